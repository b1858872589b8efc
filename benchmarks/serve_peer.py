"""The peer in benchmarks/serve_load.py: the same fp32 models served by LitServe, the way its documentation shows
(a `LitAPI` with setup / decode_request / predict / encode_response, `LitServer(...).run(port=...)`), one worker,
batch 1, PyTorch eager with the same number of threads and the model card's own preprocessing.

    python benchmarks/serve_peer.py PORT THREADS NAME=RUN [NAME=RUN ...]     # POST /NAME, multipart field "file"

LitServe is installed in the benchmark's own folder, never in neuralab's environment:
    pip install --target benchmarks/.peer litserve==0.2.19
"""

import io
import sys
from pathlib import Path

import litserve as ls
import torch
from PIL import Image

from neuralab.models.checkpoint import load_model


class Classifier(ls.LitAPI):
    def __init__(self, run: str, threads: int, path: str) -> None:
        super().__init__(max_batch_size=1, api_path=path)
        self.run, self.threads = run, threads

    def setup(self, device: str) -> None:
        torch.set_num_threads(self.threads)
        self.model, self.card = load_model(self.run)
        self.model.eval()

    def decode_request(self, request):  # noqa: ANN001 - unannotated, as in LitServe's docs: the raw form/JSON
        image = Image.open(io.BytesIO(request["file"].file.read()))
        return torch.from_numpy(self.card.preprocess.images([image]))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(x)

    def encode_response(self, logits):  # noqa: ANN001 - LitServe reads the annotation as the response type
        p = logits.softmax(1)[0]
        top = int(p.argmax())
        return {"class": self.card.class_names(len(p))[top], "probability": float(p[top])}


def main() -> None:
    port, threads, models = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    apis = [Classifier(str(Path(run)), threads, f"/{name}") for name, run in (m.split("=", 1) for m in models)]
    server = ls.LitServer(apis, accelerator="cpu", workers_per_device=1, timeout=120)
    server.run(port=port, num_api_servers=1, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
