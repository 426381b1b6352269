"""The three analytics bodies, by cache key: each is one of metrics_api.models' responses,
filled from a few lookups on one snapshot.

A key names the body it stands for: ("team", account_id, engineer_id, period),
("me", user_id, period) or ("flow", tree_id, period). The routes build a request's body
by its key; the reader builds the previous version's hottest keys again to warm a new
version. Must not read the clock or know about HTTP.
"""

from __future__ import annotations

from etl.scopes import ACCOUNT, ACCOUNT_ENGINEER, NO_ENGINEER, TREE, USER
from metrics_api.models import FlowAnalyticsResponse, PersonalAnalyticsResponse, TeamAnalyticsResponse
from metrics_api.snapshot import Key, Snapshot


def build(snapshot: Snapshot, key: Key) -> bytes | None:
    """The body `key` stands for, on `snapshot`; None for a key of another kind (the page's)
    or a tree that is not in this version."""
    match key:
        case ("team", account_id, engineer_id, period):
            return team(snapshot, account_id, engineer_id, period)
        case ("me", user_id, period):
            return personal(snapshot, user_id, period)
        case ("flow", tree_id, period) if tree_id in snapshot.trees:
            return flow(snapshot, tree_id, period)
    return None


def team(snapshot: Snapshot, account_id: str, engineer_id: str, period: str) -> bytes:
    # engineer_id narrows summary and time series only; it is always a slice of this
    # account's trees, so another account's user id reads as no sessions.
    scope = ACCOUNT_ENGINEER if engineer_id != NO_ENGINEER else ACCOUNT
    with snapshot.queries() as q:
        body = TeamAnalyticsResponse(
            period=period,
            as_of=snapshot.as_of,
            summary=q.summary(period, scope, account_id, engineer_id),
            time_series=q.time_series(period, scope, account_id, engineer_id),
            top_flows=q.top_flows(period, ACCOUNT, account_id),
            top_engineers=q.top_engineers(period, account_id),
        )
    return body.model_dump_json().encode()


def personal(snapshot: Snapshot, user_id: str, period: str) -> bytes:
    with snapshot.queries() as q:
        body = PersonalAnalyticsResponse(
            period=period,
            as_of=snapshot.as_of,
            # The app reports one engineer in the personal view, with or without sessions.
            summary=q.summary(period, USER, user_id).model_copy(update={"active_engineers": 1}),
            time_series=q.time_series(period, USER, user_id),
            top_flows=q.top_flows(period, USER, user_id),
        )
    return body.model_dump_json().encode()


def flow(snapshot: Snapshot, tree_id: str, period: str) -> bytes:
    """Flow Analytics of a tree of the snapshot (the caller's right to read it is the route's)."""
    with snapshot.queries() as q:
        avg_csat, total_ratings = q.ratings(period, tree_id)
        body = FlowAnalyticsResponse(
            tree_id=tree_id,
            tree_name=snapshot.trees[tree_id].name,
            period=period,
            as_of=snapshot.as_of,
            summary=q.summary(period, TREE, tree_id),
            avg_csat=avg_csat,
            total_ratings=total_ratings,
            time_series=q.time_series(period, TREE, tree_id),
            step_feedback=q.step_feedback(period, tree_id),
            recent_comments=q.recent_comments(tree_id),
        )
    return body.model_dump_json().encode()
