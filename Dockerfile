# PolyGround CUDA image: the pinned environment, a TeX engine for the report, the repository as the
# working directory and ./reproduce.sh as the default command.
#   docker build -t polyground .
#   docker run --rm --gpus all --user "$(id -u):$(id -g)" -v "$PWD:/work/polyground" polyground
#   (or ./reproduce.sh --docker). Any host user can run it: --user makes the files it writes in the
#   mounted repository the host user's; HOME is a directory every user may write (DVC's, matplotlib's
#   and torch's caches), so a user id with no account in the image works too.
# CUDA: torch==2.13.0 from PyPI (Linux x86_64) is the CUDA 13.0 build. Its wheel requires
# cuda-toolkit==13.0.3 and the CUDA 13 builds of cuDNN, NCCL and cuSPARSELt, which pip installs beside
# it, so torch runs on its own CUDA 13.0 libraries and only the host's driver comes from outside: an
# NVIDIA driver of the 580 branch or newer (>= 580.65.06 on Linux x86_64, NVIDIA's CUDA 13.0 release
# notes). NVIDIA_REQUIRE_CUDA below states that requirement, so `docker run --gpus all` on an older
# driver refuses to start instead of running every stage on the CPU.
# Base: the CUDA 12.8.1 runtime on Ubuntu 22.04, pinned by its linux/amd64 digest. Its CUDA 12.8
# libraries go unused (torch loads its own); it is kept because its digest pins every byte of the
# base. A plain Ubuntu 22.04 base, pinned by its own digest, would serve as well and be smaller.
FROM nvidia/cuda:12.8.1-runtime-ubuntu22.04@sha256:fcbbd60a5ad3db3a1c7375bf14546b369b54064c513224310b2026df50c7a9bd

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    POLYGROUND_IMAGE=1 \
    NVIDIA_REQUIRE_CUDA="cuda>=13.0" \
    PATH=/opt/venv/bin:$PATH

# Python 3.11, git (DVC needs the repository), a small TeX Live for paper/report.pdf.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       python3.11 python3.11-venv git ca-certificates \
       texlive-latex-base texlive-latex-recommended texlive-fonts-recommended \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*'

# Exactly the requirements file the README installs (torch 2.13.0: on Linux the PyPI wheel is the CUDA 13.0 build).
COPY requirements.txt /tmp/requirements.txt
RUN python3.11 -m venv /opt/venv \
    && pip install -r /tmp/requirements.txt

RUN useradd --create-home --uid 1000 polyground && chmod 1777 /home/polyground
ENV HOME=/home/polyground
WORKDIR /work/polyground
COPY --chown=polyground:polyground . .
RUN pip install --no-deps -e . && chown -R polyground:polyground /opt/venv
USER 1000:1000

CMD ["./reproduce.sh"]
