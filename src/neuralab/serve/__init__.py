"""Serving: export (ONNX / TorchScript), backends, micro-batching, the FastAPI app, its web page and a client."""

from neuralab.serve.client import Client, predict_remote

__all__ = ["Client", "predict_remote"]
