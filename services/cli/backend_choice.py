"""The ``--backend`` choices: the agents' runtime backends (``hwnas-agent backends`` says
which run on a machine). ``services`` never imports the agent; a test keeps the two in step."""

from __future__ import annotations

from enum import Enum


class Backend(str, Enum):
    ORT_CPU = "ort-cpu"
    ORT_CUDA = "ort-cuda"
    ORT_TENSORRT = "ort-tensorrt"
    TORCH_CPU = "torch-cpu"
    TORCH_CUDA = "torch-cuda"
    TENSORRT = "tensorrt"
    ANDROID_ADB = "android-adb"
