"""Import and export screens: upload → mapping → preview → progress → summary; history.

Thin views (DESIGN): parse, call a service or selector, render. Jobs come from
``ImportJob.objects.restrict(user, action)`` (another organization's job is a 404);
the services check the ``import`` permission on the target record type.
"""

from __future__ import annotations

import os

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView

from pulse.accounts.permissions import can
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.views import OrganizationRequiredMixin, RecordPermissionMixin, paginate

from . import export as export_module
from . import selectors, services
from .forms import MappingForm, OptionsForm, UploadForm, header_value
from .mapping import signature
from .models import ImportJob
from .targets import get_target, targets

STEPS = (
    (1, gettext_lazy("Upload"), "upload"),
    (2, gettext_lazy("Map columns"), "mapping"),
    (3, gettext_lazy("Preview"), "preview"),
    (4, gettext_lazy("Import"), "run"),
)


class StepsMixin:
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["steps"] = STEPS
        return context


def _add_errors(form, exc: ApplicationError) -> None:
    for name, problems in exc.errors.items():
        field = name if name in form.fields else None
        if name.startswith("mapping.") and f"col_{name.split('.', 1)[1]}" in form.fields:
            field = f"col_{name.split('.', 1)[1]}"
        for problem in problems:
            form.add_error(field, problem)


class JobMixin(RecordPermissionMixin):
    """A job of the current organization the user may see, or 404."""

    model = ImportJob
    action = "view"

    def get_job(self) -> ImportJob:
        try:
            return (
                self.get_queryset()
                .select_related("created_by", "undone_by", "organization")
                .get(pk=self.kwargs["pk"])
            )
        except (ImportJob.DoesNotExist, ValueError):
            raise Http404

    def target_for(self, job):
        target = get_target(job.target)
        if target is None:
            raise Http404
        return target


class ImportListView(RecordPermissionMixin, TemplateView):
    """Import history: every import the user may see, with counts and undo."""

    model = ImportJob
    template_name = "imports/import_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        page = paginate(self.request, selectors.import_history(user=user), per_page=25)
        importable = [t for t in targets() if can(user, "import", t.model)]
        context.update(page_obj=page, jobs=page.object_list, importable=importable, querystring="")
        return context


class ImportCreateView(StepsMixin, OrganizationRequiredMixin, TemplateView):
    """Step 1: upload a file."""

    model = ImportJob
    template_name = "imports/import_upload.html"

    def get_form(self, data=None, files=None):
        initial = {"target": self.request.GET.get("target", "contacts")}
        return UploadForm(data=data, files=files, initial=initial)

    def get(self, request, *args, **kwargs):
        if not any(can(request.user, "import", t.model) for t in targets()):
            raise PermissionDenied(_("Your role does not allow imports."))
        return self.render_to_response(self.get_context_data(form=self.get_form()))

    def post(self, request, *args, **kwargs):
        form = self.get_form(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                job = services.import_upload(
                    org=request.organization,
                    actor=request.user,
                    target=data["target"],
                    file=data["file"],
                    encoding=data.get("encoding") or "",
                    delimiter=data.get("delimiter") or "",
                    has_header=header_value(data.get("has_header") or ""),
                    mode=data["mode"],
                )
            except PermissionDeniedError as exc:
                raise PermissionDenied(exc.message)
            except ApplicationError as exc:
                _add_errors(form, exc)
            else:
                return redirect("imports:import_mapping", pk=job.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ImportMappingView(StepsMixin, JobMixin, TemplateView):
    """Step 2: map columns to fields (guessed, or as saved for these columns)."""

    template_name = "imports/import_mapping.html"

    def context(self, job, form, options_form=None, status=200):
        target = self.target_for(job)
        sample = selectors.sample_rows(job, limit=3) if os.path.exists(job.file.path) else []
        columns = []
        for index, field in enumerate(form.column_fields()):
            values = [r.cells[index] for r in sample if index < len(r.cells) and r.cells[index]]
            columns.append(
                {
                    "index": index,
                    "field": field,
                    "samples": values[:3],
                    "value": field.value() or "",
                }
            )
        groups: dict[str, list] = {}
        for f in target.fields():
            groups.setdefault(str(f.group or _("Fields")), []).append((f.key, str(f.label)))
        from .models import ImportMapping

        remembered = ImportMapping.objects.filter(
            target=job.target, signature=signature(job.headers)
        ).exists()
        return self.render_to_response(
            self.get_context_data(
                job=job,
                target=target,
                form=form,
                options_form=options_form or OptionsForm(job=job),
                columns=columns,
                field_groups=list(groups.items()),
                remembered=remembered,
                problems=services.mapping_problems(job),
            ),
            status=status,
        )

    def get(self, request, *args, **kwargs):
        job = self.get_job()
        if job.status != ImportJob.Status.MAPPING:
            return redirect(job.get_absolute_url())
        return self.context(job, MappingForm(job=job, target=self.target_for(job)))

    def post(self, request, *args, **kwargs):
        job = self.get_job()
        if job.status != ImportJob.Status.MAPPING:
            return redirect(job.get_absolute_url())
        form = MappingForm(request.POST, job=job, target=self.target_for(job))
        if form.is_valid():
            try:
                services.import_set_mapping(
                    job=job,
                    actor=request.user,
                    mapping=form.mapping(),
                    mode=form.cleaned_data["mode"],
                    match_by=form.cleaned_data.get("match_by") or "",
                    remember=form.cleaned_data.get("remember", False),
                )
            except PermissionDeniedError as exc:
                raise PermissionDenied(exc.message)
            except ApplicationError as exc:
                _add_errors(form, exc)
            else:
                return redirect("imports:import_preview", pk=job.pk)
        return self.context(job, form, status=400)


class ImportOptionsView(JobMixin, View):
    """POST: read the file again with another encoding, delimiter or header choice."""

    def post(self, request, *args, **kwargs):
        job = self.get_job()
        form = OptionsForm(request.POST, job=job)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.import_set_options(
                    job=job,
                    actor=request.user,
                    encoding=data.get("encoding") or "",
                    delimiter=data.get("delimiter") or "",
                    has_header=header_value(data.get("has_header") or ""),
                )
            except PermissionDeniedError as exc:
                raise PermissionDenied(exc.message)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("The file was read again with your settings."))
        return redirect("imports:import_mapping", pk=job.pk)


class ImportPreviewView(StepsMixin, JobMixin, TemplateView):
    """Step 3: the first rows with each cell's validation; POST starts the import."""

    template_name = "imports/import_preview.html"

    def render_preview(self, job, status=200, errors=None):
        preview = selectors.import_preview(job=job, actor=self.request.user)
        return self.render_to_response(
            self.get_context_data(
                job=job,
                target=self.target_for(job),
                preview=preview,
                problems=errors or services.mapping_problems(job),
            ),
            status=status,
        )

    def get(self, request, *args, **kwargs):
        job = self.get_job()
        if job.status != ImportJob.Status.MAPPING:
            return redirect(job.get_absolute_url())
        return self.render_preview(job)

    def post(self, request, *args, **kwargs):
        job = self.get_job()
        try:
            job = services.import_start(job=job, actor=request.user)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message)
        except ApplicationError as exc:
            return self.render_preview(
                job, status=400, errors=[m for ms in exc.errors.values() for m in ms]
            )
        return redirect(job.get_absolute_url())


class ImportDetailView(StepsMixin, JobMixin, TemplateView):
    """Progress while running (htmx polls the partial), then the summary."""

    template_name = "imports/import_detail.html"
    partial_template_name = "imports/partials/import_status.html"

    def get(self, request, *args, **kwargs):
        job = self.get_job()
        if job.status == ImportJob.Status.MAPPING:
            return redirect("imports:import_mapping", pk=job.pk)
        context = self.get_context_data(
            job=job,
            target=get_target(job.target),
            failed=[e for e in job.errors if e.get("kind") != "skipped"],
            skipped=[e for e in job.errors if e.get("kind") == "skipped"],
            can_undo=bool(job.can_undo and not job.undone_at)
            and can(request.user, "import", get_target(job.target).model),
        )
        if getattr(request, "htmx", False) and not request.htmx.boosted:
            # The partial polls itself while the job runs and stops once it is finished.
            return render(request, self.partial_template_name, context)
        return self.render_to_response(context)


class ImportErrorsView(JobMixin, View):
    """The failed rows as CSV, with their line numbers and reasons."""

    def get(self, request, *args, **kwargs):
        job = self.get_job()
        if not job.error_file or not default_storage.exists(job.error_file.name):
            raise Http404
        stem = os.path.splitext(job.original_name)[0] or "import"
        return FileResponse(
            default_storage.open(job.error_file.name, "rb"),
            as_attachment=True,
            filename=f"{stem}-errors.csv",
            content_type="text/csv; charset=utf-8",
        )


class ImportUndoView(JobMixin, View):
    """POST: undo the whole import (created records to the trash, updates put back)."""

    def post(self, request, *args, **kwargs):
        job = self.get_job()
        try:
            services.import_undo(job=job, actor=request.user)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The import is being undone."))
        return HttpResponseRedirect(job.get_absolute_url())


class ImportDiscardView(JobMixin, View):
    """POST: drop an import that has not started."""

    def post(self, request, *args, **kwargs):
        job = self.get_job()
        try:
            services.import_discard(job=job, actor=request.user)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(job.get_absolute_url())
        messages.success(request, _("Import discarded."))
        return redirect("imports:import_list")


class ExportView(OrganizationRequiredMixin, View):
    """GET /export/<target>/?format=csv|xlsx|vcf&<list filters>&columns=…&id=…"""

    def get(self, request, target):
        try:
            export = export_module.build_export(
                target=target, user=request.user, org=request.organization, params=request.GET
            )
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message)
        except ApplicationError as exc:
            if target not in export_module.export_targets():
                raise Http404
            messages.error(request, exc.message)
            back = reverse(
                "contacts:contact_list" if target == "contacts" else "contacts:company_list"
            )
            return HttpResponseRedirect(back)
        return export_module.response(export, user=request.user, org=request.organization)
