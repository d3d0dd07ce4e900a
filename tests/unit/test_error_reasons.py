"""Every refusal carries a stable ErrorInfo reason: each DomainError class, as raised, has one,
the catalogue has no duplicates, and the README lists every reason."""

from __future__ import annotations

import pathlib

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

# Imported for their DomainError subclasses (AssetRefused, ...), so the walk below sees them all.
import catalog_service.servicer  # noqa: F401
import ingest_service.servicer  # noqa: F401
import media_service.catalog_client  # noqa: F401
import media_service.servicer  # noqa: F401
from recorder_common.errors import (
    ERROR_DOMAIN,
    STATUS_DETAILS_KEY,
    DomainError,
    Reason,
    ResourceExhausted,
    from_rpc_error,
    reason_of,
)
from recorder_cli.__main__ import describe_error

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def every_subclass(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *every_subclass(sub)]
    return found


ERROR_CLASSES = every_subclass(DomainError)


def raised(cls: type[DomainError]) -> DomainError:
    args = ("refused", "/tmp/x") if cls.__name__ == "AssetRefused" else ("refused",)
    with pytest.raises(DomainError) as caught:
        raise cls(*args)
    return caught.value


def test_there_are_error_classes_to_check():
    assert len(ERROR_CLASSES) >= 10


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_each_domain_error_as_raised_carries_a_reason_in_its_status_details(cls):
    error = raised(cls)
    assert isinstance(error.reason, Reason)
    status = status_pb2.Status.FromString(error.status_details())
    assert status.code == cls.code.value[0] and status.message == "refused"
    [detail] = status.details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    assert (info.reason, info.domain) == (error.reason.value, ERROR_DOMAIN)


def test_each_status_class_has_its_own_default_reason():
    defaults = [cls.default_reason for cls in DomainError.__subclasses__()]
    assert len(defaults) == len(set(defaults)), defaults


def test_reasons_are_unique_and_spelled_as_their_names():
    values = [reason.value for reason in Reason]
    assert len(values) == len(set(values))
    assert all(reason.name == reason.value for reason in Reason)


def test_the_readme_lists_every_reason():
    text = README.read_text()
    missing = [reason.value for reason in Reason if f"`{reason.value}`" not in text]
    assert not missing, f"add these reasons to the README's table: {missing}"


class FailedCall(grpc.RpcError):
    """A failed call as grpc.aio hands it over: code, details, trailing metadata."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return self._trailing


def test_a_relayed_refusal_keeps_its_reason_and_is_marked_relayed():
    error = ResourceExhausted("quota", Reason.QUOTA_EXCEEDED)
    call = FailedCall(error.code, error.message, ((STATUS_DETAILS_KEY, error.status_details()),))
    assert reason_of(call) == Reason.QUOTA_EXCEEDED
    relayed = from_rpc_error(call, "catalog")  # type: ignore[arg-type]
    assert isinstance(relayed, ResourceExhausted) and relayed.reason == Reason.QUOTA_EXCEEDED
    assert relayed.relayed and relayed.message == "quota"


def test_a_call_without_our_error_info_has_no_reason():
    assert reason_of(FailedCall(grpc.StatusCode.NOT_FOUND, "x", ())) is None
    assert reason_of(FailedCall(grpc.StatusCode.NOT_FOUND, "x", ((STATUS_DETAILS_KEY, b"\xff\xff"),))) is None
    foreign = status_pb2.Status(code=5)
    foreign.details.add().Pack(error_details_pb2.ErrorInfo(reason="NOT_FOUND", domain="example.com"))
    assert (
        reason_of(FailedCall(grpc.StatusCode.NOT_FOUND, "x", ((STATUS_DETAILS_KEY, foreign.SerializeToString()),)))
        is None
    )


def test_the_cli_says_what_to_do_next_by_the_reason_not_the_message():
    error = ResourceExhausted("some words that may change", Reason.QUOTA_EXCEEDED)
    call = FailedCall(error.code, error.message, ((STATUS_DETAILS_KEY, error.status_details()),))
    text = describe_error(call)  # type: ignore[arg-type]
    assert "[QUOTA_EXCEEDED]" in text and "next: delete videos" in text
    plain = describe_error(FailedCall(grpc.StatusCode.RESOURCE_EXHAUSTED, "quota", ()))  # type: ignore[arg-type]
    assert "next:" not in plain
