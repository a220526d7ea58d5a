"""SQLModel tables and API schemas."""

from models.accounts import ApiKey, Role, User, UserRole
from models.archive_runs import ArchiveRun, ArchiveRunItem
from models.audit import AuditEntry
from models.dedup import AllowlistItem, DedupSignature, DedupSnapshot, DuplicateMatch
from models.idempotency import IdempotencyKey
from models.jobs import Job, JobStatus, StageResult
from models.outbox import DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
from models.review import ReviewAssignment, ReviewBatch, ReviewDecision, ReviewDispute
from models.submissions import Overall, Submission, SubmissionMeta, SubmissionStatus
from models.teachers import Teacher, TeacherFace
from models.uploads import Upload, UploadStatus
from models.web_auth import SignInFailure, UserPassword, WebSession

__all__ = [
    "AllowlistItem",
    "ArchiveRun",
    "ArchiveRunItem",
    "DedupSignature",
    "DedupSnapshot",
    "DuplicateMatch",
    "ApiKey",
    "AuditEntry",
    "DeliveryStatus",
    "Event",
    "IdempotencyKey",
    "Job",
    "JobStatus",
    "Overall",
    "ReviewAssignment",
    "ReviewBatch",
    "ReviewDecision",
    "ReviewDispute",
    "Role",
    "SignInFailure",
    "StageResult",
    "Submission",
    "SubmissionMeta",
    "SubmissionStatus",
    "Teacher",
    "TeacherFace",
    "Upload",
    "UploadStatus",
    "User",
    "UserPassword",
    "UserRole",
    "WebSession",
    "WebhookDelivery",
    "WebhookEndpoint",
]
