from django.urls import re_path

from governance.api import approval_views, gate_views, views

urlpatterns = [
    re_path(r"^audit/entries/?$", views.AuditEntryListApi.as_view(), name="audit-entries"),
    re_path(r"^audit/entries/(?P<seq>[0-9]{1,18})/proof/?$", views.InclusionProofApi.as_view(), name="audit-proof"),
    re_path(r"^audit/consistency/?$", views.ConsistencyProofApi.as_view(), name="audit-consistency"),
    re_path(r"^audit/checkpoints/latest/?$", views.CheckpointLatestApi.as_view(), name="audit-checkpoint-latest"),
    re_path(r"^audit/export/?$", views.ExportApi.as_view(), name="audit-export"),
    re_path(r"^gate/promotions/?$", gate_views.GatePromotionApi.as_view(), name="gate-promotions"),
    re_path(r"^approvals/?$", approval_views.ApprovalListCreateApi.as_view(), name="approval-list"),
    re_path(r"^approvals/(?P<pk>[0-9]{1,18})/?$", approval_views.ApprovalDetailApi.as_view(), name="approval-detail"),
    re_path(
        r"^approvals/(?P<pk>[0-9]{1,18})/decide/?$", approval_views.ApprovalDecideApi.as_view(), name="approval-decide"
    ),
    re_path(
        r"^approvals/(?P<pk>[0-9]{1,18})/withdraw/?$",
        approval_views.ApprovalWithdrawApi.as_view(),
        name="approval-withdraw",
    ),
    re_path(
        r"^approvals/(?P<pk>[0-9]{1,18})/conditions-met/?$",
        approval_views.ApprovalConditionsMetApi.as_view(),
        name="approval-conditions-met",
    ),
]
