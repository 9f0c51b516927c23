"""Lead assignment: rule matching (`rules`), choosing a rep inside a team (`pick`), config
warnings (`lint`) and routing explanations (`explain`). The service that writes the
assignment is `crm_core.services.assign`."""
from crm_core.assignment.pick import Pick, is_paused, pause_for_today, pick_rep, skip_reason
from crm_core.assignment.rules import LeadFacts, MatchResult, Route, match_rule, route

__all__ = ["LeadFacts", "MatchResult", "Pick", "Route", "is_paused", "match_rule", "pause_for_today",
           "pick_rep", "route", "skip_reason"]
