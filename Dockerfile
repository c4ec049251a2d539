# simnet serve in a container: the web page and JSON API over one index.
#   docker build -t simnet .
#   docker run -p 8000:8000 -e SIMNET_TOKEN=s3cret -v "$PWD/photos:$PWD/photos:ro" \
#     -v "$PWD/photos.index:/data/index:ro" simnet
# Images are served from the paths the index recorded: mount them at the same paths.
FROM python:3.11-slim

# PyTorch's CPU wheels: the default ones carry CUDA libraries a CPU service never loads.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH=2.14.1
ARG TORCHVISION=0.29.1
RUN pip install --no-cache-dir --index-url "$TORCH_INDEX" \
      "torch==$TORCH" "torchvision==$TORCHVISION"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY simnet ./simnet
RUN pip install --no-cache-dir "./[serve]" && rm -rf /src

RUN useradd --create-home --uid 1000 simnet
USER 1000
WORKDIR /home/simnet
ENV SIMNET_CACHE=/home/simnet/.cache/simnet

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
ENTRYPOINT ["simnet", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--index", "/data/index"]
