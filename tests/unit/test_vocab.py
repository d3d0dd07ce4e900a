"""The vocabulary matches the protos both ways: every member has a proto number (else vocab.py
would not import), every proto value but UNSPECIFIED has a member, and the round trip is exact."""

from __future__ import annotations

import pytest

from recorder_common.vocab import PROTO_ENUMS, AssetKind, ChunkOutcome, Step, VideoRef, VideoStatus, Vocabulary


@pytest.mark.parametrize("members", list(PROTO_ENUMS), ids=lambda m: m.__name__)
def test_every_proto_value_has_exactly_one_member_and_back(members: type[Vocabulary]):
    proto, prefix = PROTO_ENUMS[members]
    named = {number: name for name, number in proto.items()}  # type: ignore[attr-defined]
    assert named[0] == prefix + "UNSPECIFIED"
    for number, name in named.items():
        member = members.from_proto(number)
        if number == 0:
            assert member is None
            continue
        assert member is not None, f"{name} has no {members.__name__} member"
        assert prefix + member.value == name and member.proto == number
    assert len(members) == len(named) - 1


def test_unknown_numbers_and_none_are_unspecified():
    assert VideoStatus.from_proto(999) is None and VideoStatus.name_of(999) == "UNKNOWN"
    assert Step.proto_of(None) == 0 and Step.name_of(0) == "UNKNOWN"
    with pytest.raises(ValueError):
        AssetKind.proto_of("NOT_A_KIND")


def test_members_are_their_stored_names_and_vocabularies_do_not_mix():
    assert VideoStatus.READY == "READY" and ChunkOutcome.STORED == "STORED"
    # Step.THUMBNAIL and AssetKind.THUMBNAIL are equal strings with different proto numbers.
    assert Step.THUMBNAIL.proto != AssetKind.THUMBNAIL.proto
    assert Step.proto_of("THUMBNAIL") == Step.THUMBNAIL.proto


def test_video_ref_names_the_owner_first():
    ref = VideoRef("alice", "v1")
    assert (ref.owner_id, ref.video_id) == ("alice", "v1") and tuple(ref) == ("alice", "v1")
