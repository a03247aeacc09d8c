"""The compliance workspace for approvals: a queue, a request page with a decision form, and
approve/reject actions. Every write calls the same services as the API."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from core.errors import ApplicationError
from governance.approvals.selectors import approval_request_waiting_for
from governance.approvals.services import (
    approval_policy_create_version,
    approval_policy_validate_steps,
    approval_request_decide,
    separation_of_duties_problem,
)
from governance.choices import ApprovalState, Decision
from governance.models import ApprovalDecision, ApprovalPolicy, ApprovalRequest, AuditEntry, EmailDelivery
from registry.selectors import model_version_verify


class WaitingForMeFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("mine", "Waiting for me")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
        if self.value() == "mine":
            return queryset.filter(pk__in=approval_request_waiting_for(user=request.user).values("pk"))
        return queryset


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    conditions = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    due_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class RejectForm(forms.Form):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="A rejection needs a comment.")


class ApprovalDecisionInline(admin.TabularInline):
    model = ApprovalDecision
    extra = 0
    can_delete = False
    fields = ("step_number", "approver", "decision", "comment", "conditions", "due_date", "created_at")
    readonly_fields = fields

    @admin.display(description="step")
    def step_number(self, obj: ApprovalDecision) -> int:
        return obj.step + 1  # steps are stored 0-based and shown 1-based, as in the request's "step" column

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "model_version", "target_stage", "state", "step_label", "requester", "created_at"]
    list_filter = [WaitingForMeFilter, "state", "target_stage"]
    search_fields = ["model_version__model__name", "requester__username"]
    list_select_related = ["model_version__model", "requester", "policy"]
    inlines = [ApprovalDecisionInline]
    actions = ["approve_selected", "reject_selected"]
    change_form_template = "admin/governance/approvalrequest/change_form.html"
    readonly_fields = [
        "model_version",
        "target_stage",
        "artifact_digest",
        "policy",
        "requester",
        "state",
        "step_label",
        "comment",
        "conditions",
        "conditions_due",
        "created_at",
        "submitted_at",
        "decided_at",
        "expires_at",
    ]
    exclude = ["current_step", "superseded_by", "expiry_reminder_sent_at", "conditions_met_at"]

    @admin.display(description="step")
    def step_label(self, obj: ApprovalRequest) -> str:
        if obj.state != ApprovalState.IN_REVIEW:
            return "—"
        step = obj.policy.steps[obj.current_step]
        return f"{obj.current_step + 1} of {len(obj.policy.steps)}: {step['name']} ({step['role']})"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # promotion is requested by pipelines and owners through the API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:pk>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="governance_approvalrequest_decide",
            )
        ]
        return custom + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        obj = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if obj is not None:
            version = obj.model_version
            context["verification"] = model_version_verify(version=version)
            context["audit_entries"] = AuditEntry.objects.filter(
                subject_type=ApprovalRequest._meta.label, subject_id=str(obj.pk)
            ).order_by("id")
            context["policy_is_current"] = obj.policy.is_current
            problem = None
            if obj.state == ApprovalState.IN_REVIEW:
                problem = separation_of_duties_problem(actor=request.user, request=obj, step=obj.current_step)
            context["can_decide"] = obj.state == ApprovalState.IN_REVIEW and problem is None
            context["decide_blocked"] = problem[1] if problem else ""
            context["decision_form"] = DecisionForm()
            context["decide_url"] = reverse("admin:governance_approvalrequest_decide", args=[obj.pk])
        return super().change_view(request, object_id, form_url, extra_context=context)

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        obj = get_object_or_404(ApprovalRequest.objects.select_related("policy", "model_version__model"), pk=pk)
        back = reverse("admin:governance_approvalrequest_change", args=[pk])
        if request.method != "POST" or not self.has_view_permission(request, obj):
            return HttpResponseRedirect(back)
        form = DecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"The decision is not valid: {form.errors.as_text()}")
            return HttpResponseRedirect(back)
        data = form.cleaned_data
        try:
            approval_request_decide(
                actor=request.user,
                request=obj,
                decision=data["decision"],
                comment=data["comment"],
                conditions=data["conditions"],
                due_date=data["due_date"],
            )
        except ApplicationError as exc:
            messages.error(request, f"{exc.code}: {exc.message}")
        else:
            messages.success(request, f"Recorded: {data['decision']}.")
        return HttpResponseRedirect(back)

    @admin.action(description="Approve the selected requests")
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]) -> None:
        for obj in queryset.select_related("policy", "model_version__model"):
            try:
                approval_request_decide(actor=request.user, request=obj, decision=Decision.APPROVE)
            except ApplicationError as exc:
                messages.error(request, f"Request {obj.pk}: {exc.code}: {exc.message}")
            else:
                messages.success(request, f"Request {obj.pk}: approved.")

    @admin.action(description="Reject the selected requests")
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]) -> HttpResponse | None:
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for obj in queryset.select_related("policy", "model_version__model"):
                try:
                    approval_request_decide(
                        actor=request.user, request=obj, decision=Decision.REJECT, comment=form.cleaned_data["comment"]
                    )
                except ApplicationError as exc:
                    messages.error(request, f"Request {obj.pk}: {exc.code}: {exc.message}")
                else:
                    messages.success(request, f"Request {obj.pk}: rejected.")
            return None
        return TemplateResponse(
            request,
            "admin/governance/approvalrequest/reject.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reject promotion requests",
                "form": form,
                "queryset": queryset,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )


class ApprovalPolicyForm(forms.ModelForm):
    class Meta:
        model = ApprovalPolicy
        fields = ["risk_tier", "target_stage", "steps", "approval_lifetime_days"]

    def clean_steps(self) -> Any:
        # The same validation as the service, so a bad policy is a form error, not a 500 on save.
        try:
            return approval_policy_validate_steps(self.cleaned_data.get("steps"))
        except ApplicationError as exc:
            raise forms.ValidationError(f"{exc.code}: {exc.message}") from exc


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    """Saving a policy creates a new version; requests already open keep the version they started under."""

    form = ApprovalPolicyForm
    list_display = ["risk_tier", "target_stage", "version", "is_current", "approval_lifetime_days", "created_at"]
    list_filter = ["is_current", "risk_tier", "target_stage"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["risk_tier", "target_stage"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApprovalPolicy, form: Any, change: bool) -> None:
        try:
            created = approval_policy_create_version(
                actor=request.user,
                risk_tier=obj.risk_tier,
                target_stage=obj.target_stage,
                steps=form.cleaned_data["steps"],
                approval_lifetime_days=form.cleaned_data["approval_lifetime_days"],
            )
        except ApplicationError as exc:
            messages.error(request, f"{exc.code}: {exc.message}")
            raise
        obj.pk = created.pk
        obj.version = created.version

    def response_change(self, request: HttpRequest, obj: ApprovalPolicy) -> HttpResponse:
        messages.info(request, f"Saved as version {obj.version}; open requests keep the version they started under.")
        return HttpResponseRedirect(reverse("admin:governance_approvalpolicy_changelist"))


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "template", "subject", "state", "attempts", "sent_at"]
    list_filter = ["state", "template"]
    search_fields = ["subject", "key"]
    readonly_fields = [
        "key",
        "template",
        "to",
        "subject",
        "approval_request",
        "state",
        "attempts",
        "last_error",
        "sent_at",
    ]
    exclude = ["context"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
