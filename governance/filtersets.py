"""Filters of the audit-entry list."""

import django_filters

from governance.models import AuditEntry


class AuditEntryFilter(django_filters.FilterSet):
    subject_type = django_filters.CharFilter()
    subject_id = django_filters.CharFilter()
    model = django_filters.CharFilter(field_name="model_name")
    actor = django_filters.CharFilter(field_name="actor_name")
    event_type = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields = ["subject_type", "subject_id", "model", "actor", "event_type", "since", "until"]
