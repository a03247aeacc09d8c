"""The producer-key admin: adding and revoking go through the same services as the API (audit entries
included), a service's refusal is a message and writes nothing, and each user sees the keys the API
shows them (their teams' keys; every key for those who may view every model)."""

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.signing import fingerprint, public_key_pem
from governance.choices import Role
from registry.models import SigningKey
from registry.services import signing_key_register
from tests.factories import UserFactory, role, team_key
from tests.helpers import assert_audited, form_fields, last_audit_id, nothing_written
from tests.registry.signing.support import sm2_public_key_pem

ADD_URL = "/admin/registry/signingkey/add/"
CHANGELIST_URL = "/admin/registry/signingkey/"


def messages_of(response):
    return [str(message) for message in response.wsgi_request._messages]


@pytest.fixture
def staff_owner_a(world):
    """A model owner of team-a who may use the admin."""
    return UserFactory(username="staff-owner-a", is_staff=True, groups=[role(Role.MODEL_OWNER), world.team_a])


@pytest.fixture
def staff_owner_b(world):
    return UserFactory(username="staff-owner-b", is_staff=True, groups=[role(Role.MODEL_OWNER), world.team_b])


def add_form(client, **values):
    data = form_fields(client.get(ADD_URL).content.decode())
    data.update(values)
    data["_save"] = "Save"
    return data


def test_admin_add_of_a_key_goes_through_the_service(world, admin_client_for, staff_owner_a):
    client = admin_client_for(staff_owner_a)
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    data = add_form(client, team=str(world.team_a.pk), name="laptop", public_key_pem=public_key_pem(public))
    last = last_audit_id()

    response = client.post(ADD_URL, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == CHANGELIST_URL
    key = SigningKey.objects.get(fingerprint=fingerprint(public))
    assert (key.name, key.team_id, key.algorithm, key.created_by_id, key.revoked_at) == (
        "laptop",
        world.team_a.pk,
        "ed25519",
        staff_owner_a.pk,
        None,
    )
    [entry] = assert_audited(last, ("SIGNING_KEY_REGISTERED", "staff-owner-a", ""))
    assert (entry.subject_type, entry.subject_id) == ("registry.SigningKey", str(key.pk))
    assert entry.after == {
        "team": "team-a",
        "name": "laptop",
        "algorithm": "ed25519",
        "fingerprint": fingerprint(public),
    }


@pytest.mark.parametrize(
    ("pem", "team", "message"),
    [
        ("not a pem at all", "team-a", "invalid_public_key: not a PEM public key: "),
        (
            public_key_pem(ec.generate_private_key(ec.SECP384R1()).public_key()),
            "team-a",
            "unsupported_key_algorithm: elliptic curve secp384r1 is not accepted; use P-256 or Ed25519",
        ),
        (
            sm2_public_key_pem(),
            "team-a",
            "unsupported_key_algorithm: the key's algorithm is not accepted "
            "(Curve 1.2.156.10197.1.301 is not supported); use ECDSA P-256 or Ed25519",
        ),
        ("team-a's key", "team-a", "duplicate_signing_key: This public key is already registered."),
        (
            public_key_pem(ed25519.Ed25519PrivateKey.generate().public_key()),
            "team-b",
            "not_team_member: You are not a member of team 'team-b'.",
        ),
    ],
    ids=["bad-pem", "p384", "sm2", "duplicate", "not-a-member"],
)
def test_admin_add_refused_by_the_service_is_a_message_and_writes_nothing(
    world, admin_client_for, staff_owner_a, pem, team, message
):
    if pem == "team-a's key":
        pem = team_key(world.team_a)[1].public_key_pem
    client = admin_client_for(staff_owner_a)
    teams = {"team-a": world.team_a, "team-b": world.team_b}
    data = add_form(client, team=str(teams[team].pk), name="refused", public_key_pem=pem)

    with nothing_written():
        response = client.post(ADD_URL, data)

    assert response.status_code == 302
    assert response["Location"] == ADD_URL
    [shown] = messages_of(response)
    if message.endswith(": "):
        assert shown.startswith(message)
    else:
        assert shown == message


def changelist_keys(client, query=""):
    response = client.get(f"{CHANGELIST_URL}{query}")
    assert response.status_code == 200
    return sorted(key.name for key in response.context["cl"].result_list)


@pytest.fixture
def keys(world):
    """An Ed25519 and a P-256 key for each team (the versions' keys are the Ed25519 ones)."""
    made = {}
    for team in (world.team_a, world.team_b):
        for algorithm in ("ed25519", "ecdsa-p256"):
            made[f"{team.name} {algorithm}"] = team_key(team, algorithm=algorithm)[1]
    return made


def test_changelist_shows_a_member_only_their_teams_keys(world, admin_client_for, staff_owner_a, keys):
    client = admin_client_for(staff_owner_a)

    assert changelist_keys(client) == ["team-a ecdsa-p256 key", "team-a ed25519 key"]
    # Nor another team's name in the team filter.
    assert "team-b" not in client.get(CHANGELIST_URL).content.decode()


@pytest.mark.parametrize("who", ["officer", "superuser"])
def test_changelist_shows_every_key_to_those_who_may_view_every_model(world, admin_client_for, superuser, keys, who):
    user = superuser if who == "superuser" else world.officer
    assert changelist_keys(admin_client_for(user)) == sorted(key.name for key in keys.values())


def test_another_teams_key_page_is_not_found(world, admin_client_for, staff_owner_a, keys):
    response = admin_client_for(staff_owner_a).get(f"{CHANGELIST_URL}{keys['team-b ed25519'].pk}/change/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert messages_of(response) == [
        f"signing key with ID \u201c{keys['team-b ed25519'].pk}\u201d doesn\u2019t exist. Perhaps it was deleted?"
    ]


def revoke(client, *keys):
    return client.post(CHANGELIST_URL, {"action": "revoke", "_selected_action": [str(key.pk) for key in keys]})


def test_revoke_action_goes_through_the_service(world, admin_client_for, staff_owner_a, keys):
    key = keys["team-a ecdsa-p256"]
    last = last_audit_id()

    response = revoke(admin_client_for(staff_owner_a), key)

    assert response.status_code == 302
    assert messages_of(response) == ["Revoked 1 key(s): team-a ecdsa-p256 key."]
    stored = SigningKey.objects.get(pk=key.pk)
    assert (stored.revoked_by_id, stored.revocation_reason) == (staff_owner_a.pk, "revoked in the admin")
    [entry] = assert_audited(last, ("SIGNING_KEY_REVOKED", "staff-owner-a", ""))
    assert (entry.subject_id, entry.after) == (
        str(key.pk),
        {"team": "team-a", "fingerprint": key.fingerprint, "reason": "revoked in the admin"},
    )


def test_revoke_action_on_a_revoked_key_writes_nothing(world, admin_client_for, staff_owner_a, keys):
    client = admin_client_for(staff_owner_a)
    revoke(client, keys["team-a ecdsa-p256"])
    client.get(CHANGELIST_URL)  # shows (and so consumes) that request's message

    with nothing_written():
        response = revoke(client, keys["team-a ecdsa-p256"])

    assert messages_of(response) == ["Already revoked: team-a ecdsa-p256 key."]


def test_revoke_action_refused_by_the_service_is_a_message_and_writes_nothing(world, admin_client_for, keys):
    """A model owner of team-a who is also an auditor sees every key, but may revoke only team-a's."""
    owner_and_auditor = UserFactory(
        username="owner-auditor", is_staff=True, groups=[role(Role.MODEL_OWNER), role(Role.AUDITOR), world.team_a]
    )
    client = admin_client_for(owner_and_auditor)
    assert changelist_keys(client) == sorted(key.name for key in keys.values())

    with nothing_written():
        response = revoke(client, keys["team-b ecdsa-p256"])

    assert response.status_code == 302
    assert messages_of(response) == ["team-b ecdsa-p256 key: not_team_member: You are not a member of team 'team-b'."]


def test_revoke_action_reports_each_refusal_and_revokes_the_rest(world, admin_client_for, keys):
    owner_and_auditor = UserFactory(
        username="owner-auditor", is_staff=True, groups=[role(Role.MODEL_OWNER), role(Role.AUDITOR), world.team_a]
    )
    last = last_audit_id()

    response = revoke(admin_client_for(owner_and_auditor), keys["team-a ecdsa-p256"], keys["team-b ecdsa-p256"])

    assert messages_of(response) == [
        "team-b ecdsa-p256 key: not_team_member: You are not a member of team 'team-b'.",
        "Revoked 1 key(s): team-a ecdsa-p256 key.",
    ]
    assert_audited(last, ("SIGNING_KEY_REVOKED", "owner-auditor", ""))
    assert list(SigningKey.objects.filter(revoked_at__isnull=False)) == [keys["team-a ecdsa-p256"]]


def test_revoke_action_cannot_reach_another_teams_key(world, admin_client_for, staff_owner_b, keys):
    """The action works on the user's queryset: a key of a team they are not in is not in it."""
    with nothing_written():
        response = revoke(admin_client_for(staff_owner_b), keys["team-a ecdsa-p256"])

    assert response.status_code == 302
    assert messages_of(response) == ["None of the selected keys is yours to revoke."]
    assert SigningKey.objects.get(pk=keys["team-a ecdsa-p256"].pk).revoked_at is None


# session, user, the user's and their groups' permissions, the team filter's choices (the teams of the keys
# shown), the total and filtered counts, the page of rows (team joined). The scoping is a subquery of each.
KEY_CHANGELIST_QUERIES = 8


@pytest.mark.parametrize("extra_keys", [0, 10])
def test_changelist_query_count_does_not_grow_with_rows(
    world, admin_client_for, staff_owner_a, django_assert_num_queries, extra_keys
):
    for index in range(extra_keys):
        public = ed25519.Ed25519PrivateKey.generate().public_key()
        pem = public_key_pem(public)
        signing_key_register(actor=world.officer, team="team-a", name=f"spare {index}", public_key_pem=pem)
    client = admin_client_for(staff_owner_a)
    client.get(CHANGELIST_URL)

    with django_assert_num_queries(KEY_CHANGELIST_QUERIES):
        response = client.get(CHANGELIST_URL)

    assert response.context["cl"].result_count == 1 + extra_keys
