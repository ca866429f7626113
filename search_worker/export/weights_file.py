"""A trained network's weights as a file that rebuilds it: the architecture, the space
instance and the ``state_dict`` in one ``torch.save`` dict of strings and tensors.

Loading uses ``torch.load(weights_only=True)``, so a crafted file cannot run code (unlike
a pickled module or TorchScript, which carries its own program). Rebuilding needs this
package's :class:`~search_worker.nn.Network`; TorchScript and ONNX are the code-free forms.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch

from latency_db.spaces import space_from_ref
from search_worker.nn import Network

FORMAT = "hwnas-weights/1"


def weights_bytes(network: Network) -> bytes:
    """``network``'s architecture, space instance and weights (on the CPU) as file bytes."""
    state = {name: tensor.detach().cpu() for name, tensor in network.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(
        {
            "format": FORMAT,
            "architecture": network.space.format(network.arch),
            "space_ref": network.space.ref,
            "state_dict": state,
        },
        buffer,
    )
    return buffer.getvalue()


def load_weights(path: Path | str) -> Network:
    """The network a weights file holds, in eval mode; ``ValueError`` for another file."""
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as err:  # not torch's
        raise ValueError(f"{path}: not a weights file ({err})") from err
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        raise ValueError(f"{path}: not a weights file (format {FORMAT!r} expected)")
    network = Network(space_from_ref(stored["space_ref"]), stored["architecture"])
    network.load_state_dict(stored["state_dict"])
    return network.eval()
