"""Teacher presence: detect, track and match faces on the sampled frames, then apply the policy."""

from pipeline.presence.analyser import PresenceAnalyser
from pipeline.presence.enrolled import EnrolledFaces
from pipeline.presence.policy import PresencePolicy
from pipeline.presence.tracking import TrackingConfig

__all__ = ["EnrolledFaces", "PresenceAnalyser", "PresencePolicy", "TrackingConfig"]
