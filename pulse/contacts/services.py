"""Every state change of contacts and companies (DESIGN rule 3).

Each service is atomic, keyword-only, takes the acting user and goes through
``pulse.core.services`` so validation, versioning, soft delete and the change log
behave as for every other record. Errors are ``ApplicationError`` with field errors.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pulse.core.errors import ApplicationError
from pulse.core.services import record_create, record_delete, record_restore, record_update

from .models import Company, Contact, ContactRelationship, domain_from_website

# --- normalisation shared by create and update -----------------------------------------

_STRIPPED = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile",
    "title",
    "department",
    "name",
    "website",
    "domain",
    "industry",
    "territory",
    "x_handle",
    "linkedin_url",
    "street",
    "city",
    "region",
    "postal_code",
    "preferred_language",
)


def _normalize_url(value: str) -> str:
    """``northwind.com`` → ``https://northwind.com`` (people rarely type the scheme)."""
    value = (value or "").strip()
    if value and "://" not in value:
        return f"https://{value}"
    return value


def _normalize(fields: dict[str, Any]) -> dict[str, Any]:
    for name in _STRIPPED:
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].strip()
    for name in ("website", "linkedin_url"):
        if name in fields:
            fields[name] = _normalize_url(fields[name] or "")
    if isinstance(fields.get("country"), str):
        fields["country"] = fields["country"].strip().upper()
    if isinstance(fields.get("currency"), str):
        fields["currency"] = fields["currency"].strip().upper()
    if isinstance(fields.get("domain"), str):
        fields["domain"] = fields["domain"].lower()
    if isinstance(fields.get("x_handle"), str) and fields["x_handle"]:
        fields["x_handle"] = "@" + fields["x_handle"].lstrip("@")
    for name in ("email", "phone", "mobile", "website", "linkedin_url", "notes", "description"):
        if name in fields and fields[name] is None:
            fields[name] = ""
    return fields


def _validated_custom_fields(model, fields: dict[str, Any]) -> None:
    """Custom field values are checked against the organization's definitions."""
    if "custom_fields" not in fields:
        return
    from pulse.extras.customfields import validate_custom_fields

    values = fields["custom_fields"] or {}
    cleaned = validate_custom_fields(model, values)
    fields["custom_fields"] = values if cleaned is None else cleaned


# --- companies ---------------------------------------------------------------------


def _company_fields(fields: dict[str, Any], *, org=None, instance: Company | None = None) -> dict:
    fields = _normalize(dict(fields))
    _normalize_phones(fields, ("phone",), org or instance.organization)  # H1: E.164
    old_website = instance.website if instance else ""
    old_domain = instance.domain if instance else ""
    website = fields.get("website", old_website)
    domain = fields.get("domain", old_domain)
    # The domain follows the website unless someone typed a different one.
    if not domain or (website != old_website and domain == domain_from_website(old_website)):
        domain = domain_from_website(website)
    if domain != old_domain or "domain" in fields:
        fields["domain"] = domain
    if fields.get("annual_revenue") is not None and not fields.get("currency"):
        current = instance.currency if instance else ""
        fields["currency"] = current or (org or instance.organization).default_currency
    _validated_custom_fields(Company, fields)
    return fields


@transaction.atomic
def company_create(*, org, actor, **fields) -> Company:
    """Create a company; the domain comes from the website when not given."""
    fields.setdefault("assigned_to", actor)
    return record_create(Company, org=org, actor=actor, **_company_fields(fields, org=org))


@transaction.atomic
def company_update(
    *, company: Company, actor, expected_version: int | None = None, **fields
) -> Company:
    """Change a company's fields; a stale ``expected_version`` is refused."""
    fields = _company_fields(fields, instance=company)
    return record_update(company, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def company_delete(*, company: Company, actor) -> Company:
    """Move a company to the trash; its contacts and child companies keep the link."""
    return record_delete(company, actor=actor)


@transaction.atomic
def company_restore(*, company: Company, actor) -> Company:
    """Bring a company back from the trash."""
    return record_restore(company, actor=actor)


# --- contacts ----------------------------------------------------------------------


def _contact_fields(fields: dict[str, Any], *, org=None) -> dict:
    fields = _normalize(dict(fields))
    _normalize_phones(fields, ("phone", "mobile"), org)  # H1: E.164
    _validated_custom_fields(Contact, fields)
    return fields


@transaction.atomic
def contact_create(*, org, actor, **fields) -> Contact:
    """Create a contact, owned by the actor unless ``assigned_to`` says otherwise."""
    fields.setdefault("assigned_to", actor)
    return record_create(Contact, org=org, actor=actor, **_contact_fields(fields, org=org))


@transaction.atomic
def contact_update(
    *, contact: Contact, actor, expected_version: int | None = None, **fields
) -> Contact:
    """Change a contact's fields; a stale ``expected_version`` is refused."""
    return record_update(
        contact,
        actor=actor,
        expected_version=expected_version,
        **_contact_fields(fields, org=contact.organization),
    )


@transaction.atomic
def contact_delete(*, contact: Contact, actor) -> Contact:
    """Move a contact to the trash (restorable with its tags and company link)."""
    return record_delete(contact, actor=actor)


@transaction.atomic
def contact_restore(*, contact: Contact, actor) -> Contact:
    """Bring a contact back from the trash."""
    return record_restore(contact, actor=actor)


# --- bulk actions from the list pages ----------------------------------------------------

# The largest list page: a bigger selection becomes a background task with progress
# when the bulk-actions work of issue 3 lands.
BULK_LIMIT = 200
BULK_ACTIONS = ("delete", "assign", "tag", "untag", "stage")


def _bulk(records, *, actor, action: str, update, delete, assigned_to=None, tags=(), stage=None):
    records = list(records[: BULK_LIMIT + 1])
    if len(records) > BULK_LIMIT:
        raise ApplicationError(_("Select at most %(n)s records at a time.") % {"n": BULK_LIMIT})
    if action not in BULK_ACTIONS:
        raise ApplicationError(_("Unknown bulk action."))
    for record in records:
        if action == "delete":
            delete(record, actor)
        elif action == "assign":
            update(record, actor, assigned_to=assigned_to)
        elif action == "tag":
            current = {t.pk for t in record.tags.all()}
            wanted = current | {t.pk for t in tags}
            if wanted != current:
                update(record, actor, tags=sorted(wanted, key=str))
        elif action == "untag":
            current = {t.pk for t in record.tags.all()}
            wanted = current - {t.pk for t in tags}
            if wanted != current:
                update(record, actor, tags=sorted(wanted, key=str))
        elif action == "stage":
            update(record, actor, lifecycle_stage=stage)
    return len(records)


@transaction.atomic
def contact_bulk_action(*, contacts, actor, action: str, **params) -> int:
    """Delete, assign, tag, untag or change the stage of several contacts, all or nothing."""
    return _bulk(
        contacts,
        actor=actor,
        action=action,
        update=lambda c, a, **f: contact_update(contact=c, actor=a, **f),
        delete=lambda c, a: contact_delete(contact=c, actor=a),
        **params,
    )


@transaction.atomic
def company_bulk_action(*, companies, actor, action: str, **params) -> int:
    """Delete, assign, tag or untag several companies, all or nothing."""
    if action == "stage":
        raise ApplicationError(_("Companies have no lifecycle stage."))
    return _bulk(
        companies,
        actor=actor,
        action=action,
        update=lambda c, a, **f: company_update(company=c, actor=a, **f),
        delete=lambda c, a: company_delete(company=c, actor=a),
        **params,
    )


# --- bulk actions as background jobs ("select all N matching") ---------------------------

# Ids an API caller may name in one bulk-action call (a filter has no limit).
BULK_JOB_MAX_IDS = 10_000


class _FilterRequest:
    """What the list FilterSets read from a request, for a job running without one."""

    def __init__(self, *, user, organization):
        self.user = user
        self.organization = organization


def _bulk_permission(action: str) -> str:
    return "delete" if action == "delete" else "edit"


def bulk_job_params(*, org, actor, model, action: str, params: dict | None) -> dict:
    """Check a bulk action and its value; the JSON-safe ``params`` a job stores.

    ``params``: ``tag`` (tag id) for tag/untag, ``assigned_to`` (user id) for assign,
    ``lifecycle_stage`` for stage. Errors are keyed ``action`` / ``params.<name>``.
    """
    import uuid as uuid_module

    from pulse.accounts.selectors import organization_members
    from pulse.extras.models import Tag

    from .models import LifecycleStage

    params = params if isinstance(params, dict) else {}
    if action not in BULK_ACTIONS or (action == "stage" and model is not Contact):
        raise ApplicationError(errors={"action": [_("Unknown bulk action.")]})
    cleaned: dict[str, Any] = {"action": action}
    if action in ("tag", "untag"):
        tag = None
        try:
            tag_id = uuid_module.UUID(str(params.get("tag")))
        except ValueError:
            tag_id = None
        if tag_id is not None:
            tag = Tag.objects.restrict(actor, "view").filter(pk=tag_id).first()
        if tag is None:
            raise ApplicationError(errors={"params.tag": [_("Choose a tag.")]})
        cleaned["tag"] = str(tag.pk)
    elif action == "assign":
        raw = params.get("assigned_to")
        member = None
        if isinstance(raw, int | str) and str(raw).isdigit():
            member = organization_members(org).filter(pk=int(raw)).first()
        if member is None:
            raise ApplicationError(
                errors={"params.assigned_to": [_("Choose a member of this organization.")]}
            )
        cleaned["assigned_to"] = member.pk
    elif action == "stage":
        if params.get("lifecycle_stage") not in LifecycleStage.values:
            raise ApplicationError(errors={"params.lifecycle_stage": [_("Choose a stage.")]})
        cleaned["lifecycle_stage"] = params["lifecycle_stage"]
    return cleaned


def bulk_selection(*, model, org, actor, action: str, ids=None, query: str | None = None):
    """The records a bulk action applies to: ``ids``, else the list filter ``query``.

    Restricted to what the actor may edit (or delete), so a job never touches a record
    its starter could not change by hand.
    """
    from django.http import QueryDict

    from .filtersets import CompanyFilterSet, ContactFilterSet

    records = model.objects.restrict(actor, _bulk_permission(action))
    if ids is not None:
        return records.filter(pk__in=list(ids))
    filterset_class = ContactFilterSet if model is Contact else CompanyFilterSet
    filterset = filterset_class(
        QueryDict(query or ""),
        queryset=records,
        request=_FilterRequest(user=actor, organization=org),
    )
    if not filterset.is_valid():
        messages = [f"{name}: {m}" for name, msgs in filterset.errors.items() for m in msgs]
        raise ApplicationError(errors={"filter": messages})
    return filterset.qs


def _bulk_values(params: dict) -> dict:
    """A job's stored params as the bulk services' keyword arguments."""
    from pulse.accounts.models import User
    from pulse.extras.models import Tag

    values: dict[str, Any] = {}
    if params.get("tag"):
        values["tags"] = list(Tag.objects.filter(pk=params["tag"]))
    if params.get("assigned_to"):
        values["assigned_to"] = User.objects.filter(pk=params["assigned_to"]).first()
    if params.get("lifecycle_stage"):
        values["stage"] = params["lifecycle_stage"]
    return values


def _bulk_job_kind(model, bulk_service, *, noun_one: str, noun_many: str, list_url: str):
    from pulse.extras.services import BulkJobKind

    def queryset(job, actor):
        p = job.params
        return bulk_selection(
            model=model,
            org=job.organization,
            actor=actor,
            action=p["action"],
            ids=p.get("ids"),
            query=p.get("query"),
        )

    def records(pks):
        return model.objects.filter(pk__in=pks).prefetch_related("tags")

    def run_chunk(chunk, job, actor):
        values = _bulk_values(job.params)
        action = job.params["action"]
        try:
            with transaction.atomic():
                bulk_service(records([r.pk for r in chunk]), actor=actor, action=action, **values)
            return []
        except ApplicationError:
            pass
        # Someone's record refused the change: apply it one by one, keeping the reasons.
        skipped = []
        for record in chunk:
            try:
                with transaction.atomic():
                    bulk_service(records([record.pk]), actor=actor, action=action, **values)
            except ApplicationError as exc:
                skipped.append((record, exc.message))
        return skipped

    def describe(job):
        from django.utils.translation import ngettext

        labels = dict(BULK_ACTION_LABELS)
        return ngettext(noun_one, noun_many, job.total) % {
            "action": labels.get(job.params.get("action"), job.params.get("action")),
            "count": job.total,
        }

    def url(job):
        from django.urls import reverse

        return reverse(list_url)

    return BulkJobKind(
        name=f"contacts.{model._meta.model_name}_bulk",
        queryset=queryset,
        run_chunk=run_chunk,
        describe=describe,
        url=url,
    )


BULK_ACTION_LABELS = (
    ("delete", gettext_lazy("Move to trash")),
    ("assign", gettext_lazy("Assign")),
    ("tag", gettext_lazy("Add tag")),
    ("untag", gettext_lazy("Remove tag")),
    ("stage", gettext_lazy("Set lifecycle stage")),
)


def _register_bulk_jobs() -> None:
    from django.utils.translation import gettext_noop

    from pulse.extras.services import register_bulk_job_kind

    register_bulk_job_kind(
        _bulk_job_kind(
            Contact,
            lambda records, **kw: contact_bulk_action(contacts=records, **kw),
            noun_one=gettext_noop("%(action)s on %(count)d contact"),
            noun_many=gettext_noop("%(action)s on %(count)d contacts"),
            list_url="contacts:contact_list",
        )
    )
    register_bulk_job_kind(
        _bulk_job_kind(
            Company,
            lambda records, **kw: company_bulk_action(companies=records, **kw),
            noun_one=gettext_noop("%(action)s on %(count)d company"),
            noun_many=gettext_noop("%(action)s on %(count)d companies"),
            list_url="contacts:company_list",
        )
    )


_register_bulk_jobs()


@transaction.atomic
def bulk_job_start(
    *, org, actor, model, action: str, params: dict | None = None, ids=None, query=None
):
    """Start a background bulk action over ``ids`` or every record matching ``query``.

    Checks the role, the action and its value now (the job re-checks visibility per
    chunk) and returns the queued ``BulkJob``; the worker runs it after commit and
    notifies the actor when it is done.
    """
    from pulse.accounts.permissions import can
    from pulse.core.errors import PermissionDeniedError
    from pulse.extras.services import bulkjob_create

    if not can(actor, _bulk_permission(action), model):
        raise PermissionDeniedError(_("Your role does not allow this."))
    stored = bulk_job_params(org=org, actor=actor, model=model, action=action, params=params)
    if ids is not None:
        ids = [str(i) for i in ids]
        if not ids:
            raise ApplicationError(errors={"ids": [_("Select at least one record.")]})
        if len(ids) > BULK_JOB_MAX_IDS:
            raise ApplicationError(
                errors={"ids": [_("Send at most %(n)d ids.") % {"n": BULK_JOB_MAX_IDS}]}
            )
        stored["ids"] = ids
    else:
        stored["query"] = query or ""
    selection = bulk_selection(
        model=model, org=org, actor=actor, action=action, ids=ids, query=query
    )
    return bulkjob_create(
        org=org,
        actor=actor,
        kind=f"contacts.{model._meta.model_name}_bulk",
        params=stored,
        total=selection.count(),
    )


# --- merge (dedupe and merge, issue 3) ---------------------------------------------------------
#
# A merge keeps one record (the survivor) and moves everything that points at the other
# one to it, generically: every foreign key from any app (relationships, list
# memberships, consents, contacts of a company, child companies, tags' through rows,
# and whatever later issues add) is found through ``_meta``. Rows move with
# ``QuerySet.update()`` so the change log gets ONE "merge" entry, written here, that
# lists the field changes and every moved row; ``merge_undo`` reads it back.


class MergeResult:
    """What a merge did: the record kept, the one merged away (now trashed), the entry."""

    def __init__(self, survivor, merged, entry):
        self.survivor = survivor
        self.merged = merged
        self.entry = entry


# Rows moved per UPDATE (keeps parameter lists small on SQLite and PostgreSQL).
MERGE_CHUNK = 500


def _merge_refusals(model, survivor, other, actor) -> None:
    """Refuse merging a record with itself, across organizations, from the trash, or
    without the right to edit both (and to trash the other). Nothing is changed."""
    from pulse.accounts.permissions import can
    from pulse.core.errors import PermissionDeniedError
    from pulse.core.tenancy import get_current_org

    if survivor.pk == other.pk:
        raise ApplicationError(_("A record cannot be merged with itself."))
    org = get_current_org()
    if survivor.organization_id != other.organization_id or (
        org is not None and survivor.organization_id != org.pk
    ):
        raise ApplicationError(_("Only records of the same organization can be merged."))
    if survivor.is_deleted or other.is_deleted:
        raise ApplicationError(_("A record in the trash cannot be merged; restore it first."))
    editable = model.objects.restrict(actor, "edit").filter(pk__in=[survivor.pk, other.pk])
    if not can(actor, "delete", model) or editable.count() != 2:
        raise PermissionDeniedError(
            _("You need the right to edit both records and to delete one to merge them.")
        )


def _snapshot(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _merged_emails(survivor, other, primary: str) -> list[dict]:
    """Both records' further emails plus the primary email that lost, without repeats."""
    seen = {primary.lower()} if primary else set()
    merged = []
    candidates = [
        *(survivor.other_emails or []),
        *(other.other_emails or []),
        {"label": "other", "email": survivor.email},
        {"label": "other", "email": other.email},
    ]
    for item in candidates:
        if not isinstance(item, dict):
            item = {"email": str(item or "")}
        email = str(item.get("email") or "").strip()
        if email and email.lower() not in seen:
            seen.add(email.lower())
            merged.append({"label": item.get("label") or "other", "email": email})
    return merged


def _merge_values(model, survivor, other, values: dict) -> dict:
    """{attname: surviving value} from the person's choices (defaults fill the rest)."""
    from .dedupe import CUSTOM_PREFIX, OTHER, SURVIVOR, default_choice, is_empty, merge_fields

    values = values or {}
    fields = {f.name: f for f in merge_fields(model)}
    bad = [
        name
        for name, side in values.items()
        if side not in (SURVIVOR, OTHER)
        or (name not in fields and not name.startswith(CUSTOM_PREFIX))
    ]
    if bad:
        raise ApplicationError(
            errors={
                "values": [
                    _("Choose “survivor” or “other” for known fields; not: %(names)s.")
                    % {"names": ", ".join(sorted(map(str, bad)))}
                ]
            }
        )
    chosen = {}
    for name, f in fields.items():
        mine, theirs = getattr(survivor, f.attname), getattr(other, f.attname)
        side = values.get(name) or default_choice(mine, theirs)
        chosen[f.attname] = theirs if side == OTHER else mine
    if hasattr(survivor, "custom_fields"):
        mine, theirs = survivor.custom_fields or {}, other.custom_fields or {}
        merged = {}
        for key in sorted(set(mine) | set(theirs)):
            side = values.get(f"{CUSTOM_PREFIX}{key}") or default_choice(
                mine.get(key), theirs.get(key)
            )
            value = theirs.get(key) if side == OTHER else mine.get(key)
            if not is_empty(value):
                merged[key] = value
        chosen["custom_fields"] = merged
    if hasattr(survivor, "other_emails"):
        chosen["other_emails"] = _merged_emails(survivor, other, chosen.get("email") or "")
    if model is Company:
        # A company cannot become its own parent: fall back to the other side's parent.
        pair = {survivor.pk, other.pk}
        options = [chosen["parent_id"], survivor.parent_id, other.parent_id]
        chosen["parent_id"] = next((p for p in options if p is not None and p not in pair), None)
    return chosen


def _check_company_hierarchy(survivor: Company, other: Company) -> None:
    """Other's children move to the survivor: refuse when the survivor sits below them."""
    seen = []
    current = survivor.parent_id
    while current is not None and len(seen) < 60:
        seen.append(current)
        current = (
            Company.objects.unscoped()
            .filter(pk=current)
            .values_list("parent_id", flat=True)
            .first()
        )
    if other.pk in seen[1:]:
        raise ApplicationError(
            _(
                "“%(survivor)s” is below “%(other)s” in the company hierarchy: keep “%(other)s” "
                "instead."
            )
            % {"survivor": survivor, "other": other}
        )


def _relations(model) -> list:
    """(row model, foreign key field) for every column anywhere that points at ``model``.

    Hidden relations (``related_name="+"``) and many-to-many through tables included.
    """
    found = []
    for rel in model._meta.get_fields(include_hidden=True):
        if rel.is_relation and rel.auto_created and not rel.concrete and not rel.many_to_many:
            found.append((rel.related_model, rel.field))
    return found


def _row_values(row) -> dict:
    from pulse.audit.receivers import jsonable

    return {f.attname: jsonable(getattr(row, f.attname)) for f in row._meta.concrete_fields}


def _has_trash(row_model) -> bool:
    return any(f.name == "deleted_at" for f in row_model._meta.concrete_fields)


def _move_rows(row_model, field, pks: list, target_pk) -> tuple[list, list]:
    """Point rows ``pks`` at ``target_pk``: (moved, refused by a unique constraint)."""
    from django.db import IntegrityError

    manager = row_model._base_manager
    moved, refused = [], []
    for start in range(0, len(pks), MERGE_CHUNK):
        chunk = pks[start : start + MERGE_CHUNK]
        try:
            with transaction.atomic():
                manager.filter(pk__in=chunk).update(**{field.attname: target_pk})
            moved += chunk
            continue
        except IntegrityError:
            pass
        # A duplicate in the chunk (same list, same relationship twice): row by row.
        for pk in chunk:
            try:
                with transaction.atomic():
                    manager.filter(pk=pk).update(**{field.attname: target_pk})
                moved.append(pk)
            except IntegrityError:
                refused.append(pk)
    return moved, refused


def _drop_rows(row_model, field, pks: list, actor) -> tuple[list, list]:
    """Rows that would duplicate the survivor's: trashed if they can be, else deleted
    (their values kept in the merge entry for the undo)."""
    from django.utils import timezone

    manager = row_model._base_manager
    label = row_model._meta.label_lower
    trashed, dropped = [], []
    if not pks:
        return trashed, dropped
    if _has_trash(row_model):
        manager.filter(pk__in=pks).update(deleted_at=timezone.now(), deleted_by=actor)
        trashed = [{"model": label, "pk": str(pk), "field": field.name} for pk in pks]
        return trashed, dropped
    for row in manager.filter(pk__in=pks):
        dropped.append(
            {"model": label, "pk": str(row.pk), "field": field.name, "row": _row_values(row)}
        )
    manager.filter(pk__in=pks).delete()
    return trashed, dropped


def _move_related(model, survivor, other, actor) -> dict:
    """Move every row pointing at ``other`` to ``survivor``; report what moved or dropped."""
    from django.db.models import Q

    moved, trashed, dropped = [], [], []
    pair = [survivor.pk, other.pk]
    for row_model, field in _relations(model):
        qs = row_model._base_manager.filter(**{field.attname: other.pk})
        if row_model is model:
            qs = qs.exclude(pk__in=pair)  # the two records themselves (a company's parent)
        # A row linking the two records (A reports to B) would link the survivor to itself.
        self_link = Q()
        for sibling in row_model._meta.concrete_fields:
            if sibling.many_to_one and sibling.related_model is model and sibling is not field:
                self_link |= Q(**{f"{sibling.attname}__in": pair})
        linking = set(qs.filter(self_link).values_list("pk", flat=True)) if self_link else set()
        pks = [pk for pk in qs.order_by("pk").values_list("pk", flat=True) if pk not in linking]
        ok, refused = _move_rows(row_model, field, pks, survivor.pk)
        label = row_model._meta.label_lower
        moved += [{"model": label, "pk": str(pk), "field": field.name} for pk in ok]
        t, d = _drop_rows(row_model, field, [*sorted(linking, key=str), *refused], actor)
        trashed += t
        dropped += d
    return {"moved": moved, "trashed": trashed, "dropped": dropped}


def _m2m_names(instance) -> dict:
    return {
        f.name: sorted(str(o) for o in getattr(instance, f.name).all())
        for f in instance._meta.many_to_many
    }


def _write_entry(model, survivor, actor, action, changes: dict):
    from django.contrib.contenttypes.models import ContentType

    from pulse.audit.models import AuditEntry
    from pulse.core import tenancy

    return AuditEntry.objects.unscoped().create(
        organization_id=survivor.organization_id,
        actor=actor,
        source=tenancy.get_current_source(),
        action=action,
        content_type=ContentType.objects.get_for_model(model, for_concrete_model=False),
        object_id=str(survivor.pk),
        object_repr=str(survivor)[:200],
        changes=changes,
        request_id=tenancy.get_request_id(),
    )


def _save_fields(model, instance, actor, before: dict) -> dict:
    """Write the instance's changed columns with one UPDATE (no signal, no log entry)."""
    from django.db.models import F
    from django.utils import timezone

    from pulse.audit.receivers import jsonable

    after = _snapshot(instance)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    changed.pop("updated_by_id", None)
    # The version moves even when no column changed: rows moved, so open forms are stale.
    model._base_manager.filter(pk=instance.pk).update(
        **changed, updated_by=actor, updated_at=timezone.now(), version=F("version") + 1
    )
    names = {f.attname: f.name for f in model._meta.concrete_fields}
    return {names[k]: [jsonable(before.get(k)), jsonable(v)] for k, v in changed.items()}


def _merge(model, *, survivor, other, actor, values: dict) -> MergeResult:
    from pulse.audit.models import Action
    from pulse.core.services import full_clean_or_raise

    _merge_refusals(model, survivor, other, actor)
    locked = {
        r.pk: r
        for r in model._base_manager.select_for_update().filter(pk__in=[survivor.pk, other.pk])
    }
    survivor, other = locked[survivor.pk], locked[other.pk]
    if survivor.is_deleted or other.is_deleted:  # merged or deleted meanwhile
        raise ApplicationError(_("A record in the trash cannot be merged; restore it first."))
    if model is Company:
        _check_company_hierarchy(survivor, other)
    chosen = _merge_values(model, survivor, other, values)
    before = _snapshot(survivor)
    tags_before = _m2m_names(survivor)
    for attname, value in chosen.items():
        setattr(survivor, attname, value)
    survivor.updated_by = actor
    full_clean_or_raise(survivor)
    changes = _save_fields(model, survivor, actor, before)
    rows = _move_related(model, survivor, other, actor)
    survivor = model._base_manager.get(pk=survivor.pk)
    for name, names in _m2m_names(survivor).items():
        if names != tags_before.get(name):
            changes[name] = [tags_before.get(name), names]
    record_delete(other, actor=actor)
    changes["_merge"] = {
        "merged": {"id": str(other.pk), "repr": str(other)[:200]},
        "fields": sorted(k for k in changes if k != "_merge"),
        **rows,
    }
    entry = _write_entry(model, survivor, actor, Action.MERGE, changes)
    return MergeResult(survivor, other, entry)


@transaction.atomic
def contact_merge(*, survivor: Contact, other: Contact, actor, values: dict | None = None):
    """Merge ``other`` into ``survivor``: chosen values, every related row, one log entry.

    ``values`` maps a field name (or ``custom_fields.<key>``) to ``"survivor"`` or
    ``"other"``; a field left out keeps the survivor's value unless that is empty.
    Tags and further emails are united; the other's primary email becomes a further
    email. ``other`` goes to the trash. Undo with ``merge_undo(entry=result.entry)``.
    """
    return _merge(Contact, survivor=survivor, other=other, actor=actor, values=values)


@transaction.atomic
def company_merge(*, survivor: Company, other: Company, actor, values: dict | None = None):
    """Merge company ``other`` into ``survivor`` (contacts, child companies, tags… move)."""
    return _merge(Company, survivor=survivor, other=other, actor=actor, values=values)


def merge_undone(entry) -> bool:
    """Has this merge entry been undone already?"""
    from pulse.audit.models import AuditEntry

    return (
        AuditEntry.objects.unscoped()
        .filter(
            organization_id=entry.organization_id,
            content_type_id=entry.content_type_id,
            object_id=entry.object_id,
            changes___unmerge__entry=str(entry.pk),
        )
        .exists()
    )


def _rows_by_model(items: list) -> dict:
    from django.apps import apps

    grouped: dict = {}
    for item in items:
        try:
            row_model = apps.get_model(item["model"])
        except (LookupError, ValueError):
            continue  # a model removed since: nothing to move back
        field = row_model._meta.get_field(item["field"])
        grouped.setdefault((row_model, field), []).append(row_model._meta.pk.to_python(item["pk"]))
    return grouped


@transaction.atomic
def merge_undo(*, entry, actor) -> MergeResult:
    """Undo a merge: the merged record back from the trash with its rows, the survivor's
    old values back (where nobody changed them since), and a log entry saying so."""
    from pulse.audit.models import Action
    from pulse.audit.receivers import jsonable
    from pulse.core.errors import PermissionDeniedError
    from pulse.core.services import full_clean_or_raise

    meta = (entry.changes or {}).get("_merge") if entry.action == Action.MERGE else None
    model = entry.content_type.model_class() if meta else None
    if model not in (Contact, Company):
        raise ApplicationError(_("This change log entry is not a merge."))
    survivor = model._base_manager.select_for_update().filter(pk=entry.object_id).first()
    other = model._base_manager.filter(pk=meta["merged"]["id"]).first()
    if survivor is None or other is None or survivor.organization_id != entry.organization_id:
        raise ApplicationError(_("The merged records no longer exist."))
    if not model.objects.restrict(actor, "edit").filter(pk=survivor.pk).exists():
        raise PermissionDeniedError(_("You may not edit the record kept by this merge."))
    if survivor.is_deleted:
        raise ApplicationError(
            _("The record kept by this merge is in the trash; restore it first.")
        )
    if merge_undone(entry):
        raise ApplicationError(_("This merge has already been undone."))
    tags_before = _m2m_names(survivor)
    # Rows back to the merged record (those still pointing at the survivor).
    for (row_model, field), pks in _rows_by_model(meta.get("moved", [])).items():
        still = list(
            row_model._base_manager.filter(pk__in=pks, **{field.attname: survivor.pk})
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        _move_rows(row_model, field, still, other.pk)
    for (row_model, _field), pks in _rows_by_model(meta.get("trashed", [])).items():
        row_model._base_manager.filter(pk__in=pks).update(deleted_at=None, deleted_by=None)
    for item in meta.get("dropped", []):
        _recreate_row(item)
    # The survivor's values as they were, unless someone changed a field since.
    before = _snapshot(survivor)
    for name, pair in entry.changes.items():
        if name.startswith("_") or not isinstance(pair, list) or len(pair) != 2:
            continue
        field = model._meta.get_field(name)
        if field.many_to_many:
            continue
        if jsonable(getattr(survivor, field.attname)) == pair[1]:
            setattr(survivor, field.attname, field.to_python(pair[0]))
    survivor.updated_by = actor
    full_clean_or_raise(survivor)
    changes = _save_fields(model, survivor, actor, before)
    survivor = model._base_manager.get(pk=survivor.pk)
    for name, names in _m2m_names(survivor).items():
        if names != tags_before.get(name):
            changes[name] = [tags_before.get(name), names]
    if other.is_deleted:
        other = record_restore(other, actor=actor)
    changes["_unmerge"] = {"entry": str(entry.pk), "restored": str(other.pk)}
    undo_entry = _write_entry(model, survivor, actor, Action.UPDATE, changes)
    return MergeResult(survivor, other, undo_entry)


def _recreate_row(item: dict) -> None:
    """Insert a row the merge deleted, with its old values (skipped if it clashes now)."""
    from django.apps import apps
    from django.db import IntegrityError

    try:
        row_model = apps.get_model(item["model"])
    except (LookupError, ValueError):
        return
    values = {}
    for f in row_model._meta.concrete_fields:
        if f.attname in item["row"]:
            values[f.attname] = f.to_python(item["row"][f.attname])
    try:
        with transaction.atomic():
            row_model._base_manager.bulk_create([row_model(**values)])
            # bulk_create stamps auto_now_add columns: put the old values back.
            row_model._base_manager.filter(pk=values[row_model._meta.pk.attname]).update(
                **{k: v for k, v in values.items() if k != row_model._meta.pk.attname}
            )
    except IntegrityError:
        return


@transaction.atomic
def duplicate_dismiss(*, org, actor, kind: str, first, second):
    """Mark two records "not a duplicate" so the Duplicates page stops listing them.

    Needs the ``DuplicateDismissal`` model (``records``, ``first_id``, ``second_id``;
    the smaller id first); until its migration exists this refuses politely.
    """
    from .dedupe import dismissal_model

    model = dismissal_model()
    if model is None:
        raise ApplicationError(_("Marking pairs as “not a duplicate” is not available yet."))
    if first.pk == second.pk:
        raise ApplicationError(_("A pair needs two different records."))
    low, high = sorted((first.pk, second.pk), key=str)
    existing = model.objects.filter(records=kind, first_id=low, second_id=high).first()
    if existing is not None:
        return existing
    return record_create(model, org=org, actor=actor, records=kind, first_id=low, second_id=high)


# --- records: phone numbers, relationships (H1) ------------------------------------------


def _normalize_phones(fields: dict[str, Any], names: tuple[str, ...], org) -> None:
    """Phone fields typed by people → E.164, read with the organization's country.

    A number that does not parse stays as typed: the model's E.164 check then reports it
    on its field, together with any other field's error. (Text that only looks like
    E.164 is refused here, since that check would let it through.)
    """
    from django.core.exceptions import ValidationError

    from pulse.core.tenancy import get_current_org

    from .phones import is_e164, normalize_phone

    region = getattr(org or get_current_org(), "country", "") or ""
    errors: dict[str, list[str]] = {}
    for name in names:
        value = fields.get(name)
        if not isinstance(value, str) or not value:
            continue
        try:
            fields[name] = normalize_phone(value, region)
        except ValidationError as exc:
            if is_e164(value):
                errors[name] = [str(m) for m in exc.messages]
    if "other_emails" in fields and fields["other_emails"] is None:
        fields["other_emails"] = []
    if errors:
        raise ApplicationError(errors=errors)


@transaction.atomic
def contact_relationship_create(
    *, org, actor, from_contact: Contact, to_contact: Contact, kind: str, note: str = ""
) -> ContactRelationship:
    """Record that ``from_contact`` <kind> ``to_contact`` (e.g. reports to).

    Refused: a contact with itself, a contact of another organization or in the trash,
    and a repeat of a live relationship (for spouse/other, in either direction).
    """
    return record_create(
        ContactRelationship,
        org=org,
        actor=actor,
        from_contact=from_contact,
        to_contact=to_contact,
        kind=kind,
        note=(note or "").strip(),
    )


@transaction.atomic
def contact_relationship_update(
    *, relationship: ContactRelationship, actor, expected_version: int | None = None, **fields
) -> ContactRelationship:
    """Change a relationship's kind, note or contacts (checked like a new one)."""
    if isinstance(fields.get("note"), str):
        fields["note"] = fields["note"].strip()
    return record_update(relationship, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def contact_relationship_delete(*, relationship: ContactRelationship, actor) -> ContactRelationship:
    """Move a relationship to the trash (both contacts' pages stop showing it)."""
    return record_delete(relationship, actor=actor)
