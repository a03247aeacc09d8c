"""A gate check that a platform team might add: promotions to production must name a change
ticket (``--meta change_ticket=CHG-1234`` in ``modelgov gate``). Staging needs none.

Registered by the entry point ``change_ticket`` in the group ``modelgov``; blocked with
``MODELGOV_PLUGIN_BLOCKLIST=change_ticket``.
"""

import re

import pluggy

hookimpl = pluggy.HookimplMarker("modelgov")

TICKET = re.compile(r"^CHG-[0-9]{3,10}$")


@hookimpl
def modelgov_gate_checks(context):
    from hooks.events import CheckResult

    if context.target_stage != "production":
        return [CheckResult("change_ticket", "pass", "not_required", {"stage": context.target_stage})]
    ticket = str(context.pipeline.metadata.get("change_ticket", ""))
    if not TICKET.match(ticket):
        details = {"given": ticket, "pattern": TICKET.pattern}
        return [CheckResult("change_ticket", "fail", "change_ticket_missing", details)]
    return [CheckResult("change_ticket", "pass", "ok", {"change_ticket": ticket})]
