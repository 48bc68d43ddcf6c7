"""The register of industrial parks and clusters: kept by the authority, picked by businesses.

Imports are all or nothing: every line is checked first, and one bad line stores nothing.
An entry already in the register (same province, same name up to case and diacritics) is
updated in place, so a department can import its yearly list again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from traceqr.domain.clusters import (
    ClusterEntry,
    EntryProblem,
    LineProblem,
    clean_entry,
    fold,
    parse_register_csv,
)
from traceqr.errors import N_, Conflict, NotFound, ValidationError
from traceqr.models import Business, Cluster


class RegisterImportError(ValidationError):
    """A register CSV with problems: ``problems`` lists each with its line number."""

    def __init__(self, problems: list[LineProblem]) -> None:
        first = problems[0]
        super().__init__(
            N_("line %(line)s: %(problem)s"),
            field="file",
            line=first.line,
            problem=first.problem.message,
        )
        self.problems = problems


def list_clusters(session: Session, provinces: Iterable[str] = ()) -> list[Cluster]:
    """The register, for the given provinces (all when empty), by province and name."""
    query = select(Cluster).order_by(Cluster.province_code, Cluster.name)
    codes = list(provinces)
    if codes:
        query = query.where(Cluster.province_code.in_(codes))
    return list(session.scalars(query))


def get_cluster(session: Session, cluster_id: int, provinces: Iterable[str] = ()) -> Cluster:
    """One entry; outside ``provinces`` (when given) it is as if it did not exist."""
    cluster = session.get(Cluster, cluster_id)
    codes = list(provinces)
    if cluster is None or (codes and cluster.province_code not in codes):
        raise NotFound(N_("cluster %(id)s not found"), id=cluster_id)
    return cluster


def _check_scope(province_code: str, provinces: Iterable[str]) -> None:
    codes = list(provinces)
    if codes and province_code not in codes:
        raise ValidationError(
            N_("you keep the register only for your own provinces"), field="province"
        )


def _raise_first(problems: list[Any]) -> None:
    problem = problems[0]
    raise ValidationError(problem.template, field=problem.field, **problem.params)


def _same_name(session: Session, entry: ClusterEntry, other_than: int | None) -> Cluster | None:
    wanted = fold(entry.name)
    for candidate in session.scalars(
        select(Cluster).where(Cluster.province_code == entry.province_code)
    ):
        if fold(candidate.name) == wanted and candidate.id != other_than:
            return candidate
    return None


def _apply(cluster: Cluster, entry: ClusterEntry, now: datetime) -> None:
    cluster.name = entry.name
    cluster.kind = entry.kind
    cluster.province_code = entry.province_code
    cluster.commune = entry.commune
    cluster.area_ha = entry.area_ha
    cluster.status = entry.status
    cluster.updated_at = now


def save_cluster(
    session: Session,
    values: dict[str, Any],
    now: datetime,
    *,
    cluster: Cluster | None = None,
    provinces: Iterable[str] = (),
) -> Cluster:
    """Create an entry, or change ``cluster``; businesses that chose it follow its name."""
    entry, problems = clean_entry(values)
    if entry is None:
        _raise_first(problems)
    assert entry is not None
    _check_scope(entry.province_code, provinces)
    if _same_name(session, entry, cluster.id if cluster else None) is not None:
        raise Conflict(
            N_("%(name)s is already in the register for this province"),
            field="name",
            name=entry.name,
        )
    if cluster is None:
        cluster = Cluster(created_at=now)
        session.add(cluster)
    _apply(cluster, entry, now)
    session.flush()
    _follow_name(session, cluster)
    return cluster


def _follow_name(session: Session, cluster: Cluster) -> None:
    for business in session.scalars(select(Business).where(Business.cluster_id == cluster.id)):
        business.cluster_name = cluster.name


def import_register(
    session: Session, text: str, now: datetime, *, provinces: Iterable[str] = ()
) -> tuple[int, int]:
    """Store every entry of a register CSV, or none; returns (created, updated)."""
    entries, problems = parse_register_csv(text)
    codes = list(provinces)
    problems.extend(
        LineProblem(
            line,
            EntryProblem("province", N_("you keep the register only for your own provinces"), {}),
        )
        for line, entry in entries
        if codes and entry.province_code not in codes
    )
    if problems:
        raise RegisterImportError(sorted(problems, key=lambda p: p.line))
    created = updated = 0
    for _line, entry in entries:
        existing = _same_name(session, entry, None)
        if existing is None:
            cluster = Cluster(created_at=now)
            session.add(cluster)
            created += 1
        else:
            cluster = existing
            updated += 1
        _apply(cluster, entry, now)
        session.flush()
        _follow_name(session, cluster)
    link_businesses(session)
    return created, updated


def link_businesses(session: Session) -> int:
    """Point businesses whose free-text cluster names a register entry of their province to
    that entry (profiles written before the register existed). Returns how many."""
    clusters = {(c.province_code, fold(c.name)): c for c in session.scalars(select(Cluster))}
    linked = 0
    for business in session.scalars(
        select(Business).where(Business.cluster_id.is_(None), Business.cluster_name.is_not(None))
    ):
        match = clusters.get((business.province_code or "", fold(business.cluster_name or "")))
        if match is not None:
            business.cluster_id = match.id
            business.cluster_name = match.name
            linked += 1
    session.flush()
    return linked


def choose_cluster(session: Session, business: Business, cluster_id: int | None) -> None:
    """The business's pick from the register (None: not in the register, keep the text)."""
    if cluster_id is None:
        business.cluster_id = None
        return
    cluster = session.get(Cluster, cluster_id)
    if cluster is None:
        raise ValidationError(N_("choose a park or cluster from the list"), field="cluster_id")
    business.cluster_id = cluster.id
    business.cluster_name = cluster.name
    if not business.province_code:
        business.province_code = cluster.province_code


def cluster_choices(session: Session, province_code: str | None) -> list[tuple[str, str]]:
    """The business profile's picker: "not in the register", then the register, the
    business's own province first, each entry named with its commune and province."""
    from traceqr.domain.provinces import province

    entries = list_clusters(session)
    entries.sort(key=lambda c: (c.province_code != (province_code or ""), c.province_code, c.name))
    choices = [("", "—")]
    for c in entries:
        found = province(c.province_code)
        where = ", ".join(p for p in (c.commune, found.name_vi if found else "") if p)
        choices.append((str(c.id), f"{c.name} ({where})" if where else c.name))
    return choices
