import pytest
import torch

from simnet.config import ModelConfig, load_config
from simnet.errors import SimNetError
from simnet.models import ShallowBranch, SimNetModel, build_model, create_backbone, list_backbones
from simnet.models.compact import CompactNet


@pytest.mark.parametrize("scales", [[2, 4], [], [4]])
def test_embeddings_have_the_configured_shape_and_unit_norm(scales: list[int]) -> None:
    model = build_model(
        ModelConfig(widths=[4, 8, 8], scales=scales, branch_width=4, branch_dim=6, embedding_dim=24)
    ).eval()
    out = model(torch.randn(5, 3, 32, 32))
    assert out.shape == (5, 24)
    assert torch.allclose(out.norm(dim=1), torch.ones(5), atol=1e-5)
    assert len(model.branches) == len(scales)


def test_branch_outputs_are_unit_norm_and_see_a_smaller_image() -> None:
    branch = ShallowBranch(factor=4, width=4, out_dim=7).eval()
    seen = {}

    def record(module, inputs, output) -> None:
        seen["shape"] = inputs[0].shape

    branch.features[0].register_forward_hook(record)
    out = branch(torch.randn(3, 3, 32, 32))
    assert seen["shape"] == (3, 3, 8, 8)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)


def test_compact_backbone_is_registered() -> None:
    assert "compact" in list_backbones()
    net = create_backbone("compact", widths=[4, 8, 16, 32])
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, net.out_dim) == (2, 32)


def test_unknown_backbone_is_a_clear_error() -> None:
    with pytest.raises(SimNetError, match="unknown backbone"):
        create_backbone("alexnet-9000")


def test_fusion_head_gradient_is_correct() -> None:
    torch.manual_seed(0)

    class Tiny(torch.nn.Module):
        out_dim = 3

        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(12, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.flatten(1)[:, :12])

    model = SimNetModel(Tiny(), [], embedding_dim=4).double()
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(model, (x,))

    # The full head: CNN1 features and two weighted unit-norm branch outputs, fused.
    fused = SimNetModel(Tiny(), [ShallowBranch(2, 2, 3), ShallowBranch(4, 2, 5)], 4).double()
    fused.eval()  # dropout and batch-norm fixed: a deterministic function to check
    features = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    b1 = torch.nn.functional.normalize(torch.randn(2, 3, dtype=torch.float64), dim=1)
    b2 = torch.nn.functional.normalize(torch.randn(2, 5, dtype=torch.float64), dim=1)
    b1.requires_grad_(True)
    b2.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f, p, q: fused.head(f, [p, q]), (features, b1, b2))
    image = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fused, (image,))


def test_branch_weights_scale_each_branch_in_the_fusion() -> None:
    config = ModelConfig(widths=[4, 8, 8], scales=[2, 4], branch_width=4, branch_dim=6)
    model = build_model(config).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        model.branch_scale.zero_()
        before = model(x)
        for p in model.branches.parameters():
            p.add_(1.0)  # silenced branches: their weights do not matter
        assert torch.allclose(model(x), before)
        model.branch_scale.fill_(1.0)
        assert not torch.allclose(model(x), before)
    assert model.branch_scale.requires_grad


def test_whitening_init_decorrelates_patches_and_freezes_the_conv() -> None:
    from simnet.models.whitening import whiten_conv_

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 3, 12, 12, generator=gen) * torch.tensor([1.0, 3.0, 0.5]).view(1, 3, 1, 1)
    x[:, 1] += 0.8 * x[:, 0]  # correlated channels
    x = x + 0.5 * torch.roll(x, 1, dims=3)  # correlated neighbours
    conv = torch.nn.Conv2d(3, 24, 2, bias=False)
    whiten_conv_(conv, x)
    y = torch.nn.functional.conv2d(x, conv.weight)[:, :12]  # the positive half
    flat = y.permute(0, 2, 3, 1).reshape(-1, 12)
    cov = torch.cov(flat.T)
    assert torch.allclose(cov, torch.eye(12), atol=0.02)
    assert torch.allclose(conv.weight[12:], -conv.weight[:12])
    assert not conv.weight.requires_grad


def test_a_stride_two_stem_reads_twice_the_size_onto_the_same_map() -> None:
    # 64 px through a stride-2 stem reaches the blocks as a 32 px image does through the
    # default one (a 2 px shift of the 64 px image is a 1 px shift of the map), and the
    # whitened stem keeps every number of each 2x2 patch
    config = ModelConfig(stem_stride=2)
    model = build_model(config)
    assert model.init_from_data(torch.randn(64, 3, 64, 64))
    stem = model.backbone.stem[0]
    assert stem.stride == (2, 2) and not stem.weight.requires_grad
    x = torch.randn(2, 3, 64, 64)
    assert (
        model.backbone.stem(x).shape
        == build_model(ModelConfig()).backbone.stem(torch.randn(2, 3, 33, 33)).shape
    )
    weights = stem.weight[:12].reshape(12, -1)  # the positive half: all 12 directions
    assert torch.linalg.matrix_rank(weights) == 12
    with pytest.raises(SimNetError, match="stem_stride"):
        load_config(None, ["model.stem_stride=3"])
    with pytest.raises(SimNetError, match="stem_stride"):
        load_config(None, ["model.stem_stride=2", "model.backbone=resnet18"])


def test_a_pool_grid_keeps_where_each_feature_peaks() -> None:
    # the same weights pooled onto a 2 x 2 grid: each feature's maximum in each quarter,
    # whose largest is the global max-pool's feature, so a part's place is kept
    grid, whole = CompactNet((24, 32, 64), pool_grid=2), CompactNet((24, 32, 64))
    whole.load_state_dict(grid.state_dict())
    grid.eval(), whole.eval()
    x = torch.randn(3, 3, 32, 32)
    quarters = grid(x).view(3, 64, 2, 2)
    assert grid.out_dim == 4 * 64 and quarters.shape[1:] == (64, 2, 2)
    assert torch.allclose(quarters.amax(dim=(2, 3)), whole(x), atol=1e-6)
    for shape in [(2, 5, 4, 6), (2, 5, 3, 3), (1, 2, 7, 5)]:  # the adaptive pool's cells
        maps = torch.randn(shape)
        assert torch.equal(grid.grid_max(maps), grid.pool(maps))
    with pytest.raises(SimNetError, match="pool_grid"):
        load_config(None, ["model.pool_grid=0"])
    with pytest.raises(SimNetError, match="pool_grid"):
        load_config(None, ["model.pool_grid=2", "model.backbone=resnet18"])


def test_pool_mean_counts_what_the_max_pool_only_sees() -> None:
    # two identical parts on an empty page: the mean features move about twice as far
    # from the empty page's as one part's do, so a count can be read from them
    torch.manual_seed(0)
    net = CompactNet((24, 32, 64), pool_mean=1).eval().double()
    assert net.out_dim == 64 + 64
    empty = torch.zeros(1, 3, 64, 64, dtype=torch.float64)
    one = empty.clone()
    one[..., 28:34, 16:22] = 5
    two = one.clone()
    two[..., 28:34, 32:38] = 5  # 16 px further: the same place in every pooled cell
    with torch.no_grad():
        e, a, b = net(empty), net(one), net(two)
    ratio = (b - e)[0, 64:] / (a - e)[0, 64:]  # the mean features
    assert 1.5 < ratio.median() < 2.5
    without = CompactNet((24, 32, 64)).eval().double()
    without.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(without(two), net(two)[:, :64])  # the max-pool part is unchanged
    means = CompactNet((24, 32, 48, 64), pool_mean=2)
    assert means.out_dim == 64 + 48 + 64 and means(torch.rand(2, 3, 32, 32)).shape == (2, 176)
    with pytest.raises(SimNetError, match="pool_mean"):
        load_config(None, ["model.pool_mean=4"])  # the default compact net has 3 blocks
    with pytest.raises(SimNetError, match="pool_mean"):
        load_config(None, ["model.pool_mean=1", "model.backbone=resnet18"])


def test_compact_backbone_whitens_its_stem_from_data() -> None:
    model = build_model(ModelConfig())
    before = model.backbone.stem[0].weight.detach().clone()
    assert model.init_from_data(torch.randn(64, 3, 32, 32))
    after = model.backbone.stem[0].weight
    assert not torch.equal(before, after) and not after.requires_grad
