"""Filters of the inventory list."""

import django_filters

from registry.choices import EuAiActCategory, ModelStatus, RiskTier, Stage
from registry.models import RegisteredModel


class RegisteredModelFilter(django_filters.FilterSet):
    risk_tier = django_filters.ChoiceFilter(choices=RiskTier.choices)
    status = django_filters.ChoiceFilter(choices=ModelStatus.choices)
    eu_ai_act_category = django_filters.ChoiceFilter(choices=EuAiActCategory.choices)
    owner = django_filters.CharFilter(field_name="owner__username")
    team = django_filters.CharFilter(field_name="team__name")
    stage = django_filters.ChoiceFilter(
        choices=Stage.choices, field_name="versions__stage", distinct=True, label="Has a version in stage"
    )

    class Meta:
        model = RegisteredModel
        fields = ["risk_tier", "status", "eu_ai_act_category", "owner", "team", "stage"]
