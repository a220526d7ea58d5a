"""The face models (dlib via face_recognition_models), loaded once per process on first use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

ENCODER_INPUT_PX = 150  # dlib aligns every face to a 150x150 chip before encoding


@dataclass(frozen=True)
class FaceModels:
    detector: Any  # dlib HOG frontal face detector
    landmarks: Any  # dlib 5-point shape predictor
    encoder: Any  # dlib ResNet face encoder (128-d)
    cnn_detector: Any  # dlib MMOD CNN detector: slow, only used to confirm faces on enrolment photos
    versions: dict[str, str]


@cache
def face_models() -> FaceModels:
    """The process-wide models; the first call loads them (~1 s), later calls are free."""
    import face_recognition.api as fr

    return FaceModels(
        detector=fr.face_detector,
        landmarks=fr.pose_predictor_5_point,
        encoder=fr.face_encoder,
        cnn_detector=fr.cnn_face_detector,
        versions=model_versions(),
    )


@cache
def model_versions() -> dict[str, str]:
    """Names and versions of the models, without loading them."""
    import dlib
    import face_recognition_models

    dlib_version = getattr(dlib, "__version__", "unknown")
    models_version = getattr(face_recognition_models, "__version__", "unknown")
    return {
        "detector": f"dlib {dlib_version} HOG frontal_face_detector",
        "landmarks": f"shape_predictor_5_face_landmarks (face_recognition_models {models_version})",
        "encoder": f"dlib_face_recognition_resnet_model_v1 (face_recognition_models {models_version})",
    }


def encoder_name() -> str:
    """The encoder's name and version, stored with every enrolled encoding."""
    return model_versions()["encoder"]


def encode_face(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The 128-d encoding of the face in ``box`` (x0, y0, x1, y1) of an RGB image."""
    import dlib

    m = face_models()
    x0, y0, x1, y1 = (round(v) for v in box)
    shape = m.landmarks(rgb, dlib.rectangle(x0, y0, x1, y1))
    return np.asarray(m.encoder.compute_face_descriptor(rgb, shape, 1), dtype=np.float64)
