"""The sandbox's command-line knobs, shared by every emulated site."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field


@dataclass
class Knobs:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit: float = 0.0  # requests/s over all sites; 0 = unlimited
    error_rate: float = 0.0  # share of requests answered with a 500
    missing_rate: float = 0.0  # share of pin ids that do not exist (stable per id)
    truncate_rate: float = 0.0  # share of answers cut in the middle (JSON, report PDFs)
    orig_forbidden_rate: float = 0.0  # share of pins whose `originals/` image answers 403
    search_results: int = 500  # results a search finds for any keyword
    session_ttl_s: float = 0.0  # sessions older than this are refused (403 CSRF); 0 = never
    vehicles: int = 40  # J.D. Power inventory size
    pdf_delay_ms: float = 0.0  # J.D. Power: time to produce a report PDF
    jd_user: str = "sandbox-user"  # J.D. Power credentials the login accepts
    jd_pass: str = "sandbox-pass"
    # links' sites
    site_latency: dict[str, float] = field(default_factory=dict)  # site -> ms, over --latency-ms
    eu_consent: bool = False  # YouTube answers its consent page to a client without SOCS
    reddit_quota: int = 0  # Reddit: requests per window before 429s; 0: no limit
    reddit_window_s: float = 600.0  # Reddit: the rate-limit window (X-Ratelimit-Reset)
    bilibili_risk_rate: float = 0.0  # Bilibili: share of view answers that are risk control (-352)
    seed: int = 0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
        parser.add_argument("--jitter-ms", type=float, default=0.0, help="extra random delay, 0..N ms")
        parser.add_argument(
            "--rate-limit",
            type=float,
            default=0.0,
            help="requests/s allowed; above it 429 + Retry-After",
        )
        parser.add_argument(
            "--error-rate",
            type=float,
            default=0.0,
            help="share of requests answered 500",
        )
        parser.add_argument(
            "--missing-rate",
            type=float,
            default=0.0,
            help="share of pin ids answered 'not found'",
        )
        parser.add_argument(
            "--truncate-rate",
            type=float,
            default=0.0,
            help="share of JSON bodies cut in half",
        )
        parser.add_argument(
            "--orig-forbidden-rate",
            type=float,
            default=0.0,
            help="share of pins whose original-size image answers 403",
        )
        parser.add_argument(
            "--search-results", type=int, default=500, help="results of a search, for every keyword"
        )
        parser.add_argument(
            "--session-ttl-s",
            type=float,
            default=0.0,
            help="sessions expire after this many seconds (0: never)",
        )
        parser.add_argument("--vehicles", type=int, default=40, help="J.D. Power: vehicles in the inventory")
        parser.add_argument(
            "--pdf-delay-ms", type=float, default=0.0, help="J.D. Power: time to produce each report PDF"
        )
        parser.add_argument(
            "--jd-user", default="sandbox-user", help="J.D. Power: the username the login accepts"
        )
        parser.add_argument(
            "--jd-pass", default="sandbox-pass", help="J.D. Power: the password the login accepts"
        )
        parser.add_argument(
            "--site-latency-ms",
            default="",
            help="per site, instead of --latency-ms: youtube=300,youtube_comments=200,bilibili=100,"
            "reddit=400,article=600",
        )
        parser.add_argument(
            "--eu-consent", type=int, default=0, help="YouTube: the consent page to clients without SOCS (1)"
        )
        parser.add_argument(
            "--reddit-quota", type=int, default=0, help="Reddit: requests per window, then 429 (0: no limit)"
        )
        parser.add_argument(
            "--reddit-window-s", type=float, default=600.0, help="Reddit: its rate-limit window in seconds"
        )
        parser.add_argument(
            "--bilibili-risk-rate", type=float, default=0.0, help="Bilibili: share of answers that are -352"
        )
        parser.add_argument("--seed", type=int, default=0, help="seed for generated content and faults")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Knobs:
        knobs = cls(
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            rate_limit=args.rate_limit,
            error_rate=args.error_rate,
            missing_rate=args.missing_rate,
            truncate_rate=args.truncate_rate,
            orig_forbidden_rate=args.orig_forbidden_rate,
            search_results=args.search_results,
            session_ttl_s=args.session_ttl_s,
            vehicles=args.vehicles,
            pdf_delay_ms=args.pdf_delay_ms,
            jd_user=args.jd_user,
            jd_pass=args.jd_pass,
            site_latency=_site_latency(args.site_latency_ms),
            eu_consent=bool(args.eu_consent),
            reddit_quota=args.reddit_quota,
            reddit_window_s=args.reddit_window_s,
            bilibili_risk_rate=args.bilibili_risk_rate,
            seed=args.seed,
        )
        for name in (
            "error_rate",
            "missing_rate",
            "truncate_rate",
            "orig_forbidden_rate",
            "bilibili_risk_rate",
        ):
            value = getattr(knobs, name)
            if not 0.0 <= value <= 1.0:
                raise SystemExit(f"sandbox: --{name.replace('_', '-')} must be between 0 and 1, got {value}")
        return knobs


SITES = ("youtube", "youtube_comments", "bilibili", "reddit", "article")


def _site_latency(text: str) -> dict[str, float]:
    latency: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        site, _, ms = part.partition("=")
        try:
            latency[site.strip()] = float(ms)
        except ValueError:
            raise SystemExit(f"sandbox: --site-latency-ms {part!r}: not SITE=MS") from None
        if site.strip() not in SITES:
            raise SystemExit(f"sandbox: --site-latency-ms {part!r}: unknown site (one of {', '.join(SITES)})")
    return latency
