"""Where to set simnet dedup's threshold: distances of edited copies against distinct images.

For test images of the model's data set, describes each image and three edited copies
(re-encoded as JPEG at quality 75, enlarged 2x and brightened by 10%, each decoded back
as a file would be), and finds each image's nearest other image in the test split. Prints
percentiles of both, in dedup's descriptors and, for comparison, in the embedding; then,
per threshold, the share of copies found and of images wrongly given a distinct partner.

    python benchmarks/dedup_threshold.py --model runs/demo [--images 1000]
"""

from __future__ import annotations

import argparse
import io

import numpy as np
from PIL import Image, ImageEnhance

from simnet.data.images import decode_image
from simnet.data.loading import load_data
from simnet.dedup import DEFAULT_THRESHOLD
from simnet.index import Index
from simnet.inference import SimNet


def encoded(image: Image.Image, fmt: str, **kwargs: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run folder of a trained model")
    parser.add_argument("--images", type=int, default=1000, help="test images to edit")
    args = parser.parse_args()
    net = SimNet.load(args.model)
    size = net.config.data.image_size
    test = load_data(net.config.data.source, net.config.data, []).test
    originals = np.ascontiguousarray(test.images[: args.images])
    edits = {
        "jpeg q75": lambda im: encoded(im, "JPEG", quality=75),
        "enlarged 2x": lambda im: encoded(im.resize((2 * size, 2 * size), Image.BICUBIC), "PNG"),
        "brighter 10%": lambda im: encoded(ImageEnhance.Brightness(im).enhance(1.1), "PNG"),
    }
    copies = {
        name: np.stack([decode_image(edit(Image.fromarray(a)), size) for a in originals])
        for name, edit in edits.items()
    }
    everything = np.ascontiguousarray(test.images)
    print(f"{len(originals)} test images of {net.config.data.source}, among {len(everything)}")
    found: dict[str, np.ndarray] = {}
    for space, describe in (("descriptor", net.describe), ("embedding", net.embed_array)):
        base = describe(originals)
        print(f"\nin the {space}{'':<16}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}")
        for name, images in copies.items():
            d = np.linalg.norm(describe(images) - base, axis=1)
            found[f"{space} {name}"] = d
            print(
                f"{'copy, ' + name:<29}" + "".join(f"{x:>8.3f}" for x in pct(d, (50, 90, 99, 100)))
            )
        whole = describe(everything)
        index = Index(whole, list(test.keys), [""] * len(whole), {})
        nearest = np.array([m[1].distance for m in index.search(base, 2)])  # m[0]: itself
        found[f"{space} nearest"] = nearest
        print(
            f"{'nearest other (p50 p10 p1 min)':<29}"
            + "".join(f"{x:>8.3f}" for x in pct(nearest, (50, 10, 1, 0)))
        )
    print(
        "\ndescriptor threshold: copies found (jpeg, enlarged, brighter) | images with a "
        "distinct image within it"
    )
    for t in (0.05, 0.08, 0.1, 0.12, 0.15, 0.2):
        shares = [float((found[f"descriptor {n}"] < t).mean()) for n in edits]
        wrong = float((found["descriptor nearest"] < t).mean())
        mark = "  <- default" if t == DEFAULT_THRESHOLD else ""
        print(f"  {t:<5} " + " ".join(f"{x:6.1%}" for x in shares) + f" | {wrong:6.2%}{mark}")


def pct(values: np.ndarray, qs: tuple[int, ...]) -> list[float]:
    return [float(np.percentile(values, q)) for q in qs]


if __name__ == "__main__":
    main()
