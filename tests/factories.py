"""factory_boy factories. Models and versions are made through the services, so their audit
entries and object permissions exist exactly as in production."""

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

import factory
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from core.signing import public_key_pem
from governance.choices import Role
from hooks.manifest import root_digest, sign_manifest, validate_manifest
from registry.models import ModelVersion, RegisteredModel, SigningKey
from registry.services import model_version_register, registered_model_create, signing_key_register


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"team-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.django.Password("pw")
    is_active = True

    @factory.post_generation
    def groups(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        for group in extracted or []:
            self.groups.add(group if isinstance(group, Group) else Group.objects.get(name=group))


def role(name: Role) -> Group:
    return Group.objects.get(name=name.value)


def make_manifest(seed: str, files: int = 2) -> dict[str, Any]:
    return {
        "resources": [
            {
                "name": f"file{i}.bin",
                "algorithm": "sha256",
                "digest": hashlib.sha256(f"{seed}/{i}".encode()).hexdigest(),
            }
            for i in range(files)
        ]
    }


def seed_admin() -> Any:
    """The superuser that factories act as (it holds every permission)."""
    return UserFactory(username="seed-admin", is_superuser=True, is_staff=True)


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The root digest the service computes for ``manifest`` (``sha256:<hex>``)."""
    return root_digest(validate_manifest(manifest))


class RegisteredModelFactory(factory.Factory):
    """A model created by ``registered_model_create`` as the seed admin; ``team`` and ``owner`` are rows."""

    class Meta:
        model = RegisteredModel

    name = factory.Sequence(lambda n: f"model-{n:03d}")
    team = factory.SubFactory(GroupFactory)
    owner = factory.SubFactory(UserFactory)
    risk_tier = "medium"

    @classmethod
    def _create(cls, model_class: type[RegisteredModel], *args: Any, **kwargs: Any) -> RegisteredModel:
        team, owner = kwargs.pop("team"), kwargs.pop("owner")
        return registered_model_create(actor=seed_admin(), team=team.name, owner=owner.username, **kwargs)


def make_model(*, owner: Any, team: Group, name: str, risk_tier: str = "medium", **fields: Any) -> RegisteredModel:
    """Create a model through the service as a superuser."""
    return RegisteredModelFactory(owner=owner, team=team, name=name, risk_tier=risk_tier, **fields)


# Private halves of the producer keys the tests register, by fingerprint (never stored by the service).
_PRIVATE_KEYS: dict[str, Any] = {}


def team_key(team: Group, *, algorithm: str = "ed25519") -> tuple[Any, SigningKey]:
    """The team's active test signing key (registered through the service on first use)."""
    for key in SigningKey.objects.filter(team=team, revoked_at__isnull=True, algorithm=algorithm):
        if key.fingerprint in _PRIVATE_KEYS:
            return _PRIVATE_KEYS[key.fingerprint], key
    private: Any = (
        ec.generate_private_key(ec.SECP256R1()) if algorithm == "ecdsa-p256" else ed25519.Ed25519PrivateKey.generate()
    )
    key = signing_key_register(
        actor=seed_admin(),
        team=team.name,
        name=f"{team.name} {algorithm} key",
        public_key_pem=public_key_pem(private.public_key()),
    )
    _PRIVATE_KEYS[key.fingerprint] = private
    return private, key


def version_payload(
    *, model: RegisteredModel, manifest: dict[str, Any], key: tuple[Any, SigningKey] | None = None, **fields: Any
) -> dict[str, Any]:
    """The body of POST /api/v1/models/{name}/versions/: the manifest signed by a team key."""
    private, signing_key = key or team_key(model.team)
    return {
        "artifact_uri": f"s3://bucket/{model.name}/{manifest['resources'][0]['digest'][:12]}",
        "signature": sign_manifest(model_name=model.name, manifest=manifest, private_key=private),
        "signing_key": signing_key.fingerprint,
        **fields,
    }


class ModelVersionFactory(factory.Factory):
    """A version registered by ``model_version_register``, signed with the team's test key;
    ``actor`` must hold register_version on the model (the seed admin does)."""

    class Meta:
        model = ModelVersion

    model = factory.SubFactory(RegisteredModelFactory)
    actor = factory.LazyFunction(seed_admin)
    seed = factory.Sequence(lambda n: f"artifact-{n}")

    @classmethod
    def _create(cls, model_class: type[ModelVersion], *args: Any, **kwargs: Any) -> ModelVersion:
        model, actor, seed = kwargs.pop("model"), kwargs.pop("actor"), kwargs.pop("seed")
        payload = version_payload(model=model, manifest=make_manifest(seed))
        return model_version_register(actor=actor, model=model, **{**payload, **kwargs})


def make_version(*, model: RegisteredModel, actor: Any, seed: str | None = None, **fields: Any) -> ModelVersion:
    """Register a version through the service, signed with the team's test key."""
    seed = seed or f"{model.name}-{ModelVersion.objects.filter(model=model).count()}"
    return ModelVersionFactory(model=model, actor=actor, seed=seed, **fields)


def audit_entries(
    count: int,
    *,
    subject: Any,
    actor: Any = None,
    model_name: str = "",
    event_type: Any = None,
) -> list[Any]:
    """Record ``count`` audit entries about ``subject``, each in its own transaction as a service
    would; ``after`` is ``{"n": i}``. Under the ``db`` fixture nothing integrates them by itself."""
    from django.db import transaction

    from governance.audit.services import audit_record
    from governance.choices import AuditEvent

    entries = []
    for number in range(count):
        with transaction.atomic():
            entries.append(
                audit_record(
                    actor=actor,
                    event_type=event_type or AuditEvent.REGISTERED_MODEL_UPDATED,
                    subject=subject,
                    model_name=model_name,
                    after={"n": number},
                )
            )
    return entries


@contextlib.contextmanager
def triggers_disabled(table: str, *triggers: str) -> Iterator[Any]:
    """Switch off the named triggers of ``table`` (the tests connect as a superuser), yield a cursor to
    tamper with, and switch exactly those triggers back on as ENABLE ALWAYS, as the migrations left them.

    PostgreSQL refuses ALTER TABLE while deferred foreign-key checks are queued on the table, so they
    are run first (SET CONSTRAINTS ALL IMMEDIATE) and deferred again afterwards, Django's default."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for trigger in triggers:
            cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER "{trigger}"')
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        try:
            yield cursor
        finally:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for trigger in triggers:
                cursor.execute(f'ALTER TABLE "{table}" ENABLE ALWAYS TRIGGER "{trigger}"')
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@contextlib.contextmanager
def append_only_disabled(*tables: str) -> Iterator[Any]:
    """:func:`triggers_disabled` for the append-only triggers (core/dbtriggers.py) of each table."""
    with contextlib.ExitStack() as stack:
        cursor = None
        for table in tables:
            cursor = stack.enter_context(
                triggers_disabled(table, f"{table}_append_only_row", f"{table}_append_only_truncate")
            )
        yield cursor


def approve_promotion(
    *, version: ModelVersion, stage: str, requester: Any, approvers: list[Any], decision: str = "approve", **fields: Any
) -> Any:
    """Request promotion of ``version`` to ``stage`` as ``requester``, then have each of ``approvers``
    decide the open step, through the approval services (so every approver must pass separation of
    duties: a low-risk model needs one validator outside its team). Returns the refreshed request."""
    from governance.approvals.services import approval_request_create, approval_request_decide

    request = approval_request_create(actor=requester, model_version=version, target_stage=stage)
    for approver in approvers:
        request = approval_request_decide(actor=approver, request=request, decision=decision, **fields)
    return request
