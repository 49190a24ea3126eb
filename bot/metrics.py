"""Prometheus metrics, one registry per app so that several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turns = Counter(
            "supportbot_turns_total",
            "User messages answered, by action.",
            ["action"],
            registry=self.registry,
        )
        self.errors = Counter(
            "supportbot_frame_errors_total",
            "Error frames sent, by code.",
            ["code"],
            registry=self.registry,
        )
        self.turn_seconds = Histogram(
            "supportbot_turn_seconds", "Time to answer one user message.", registry=self.registry
        )
        self.generator_fallbacks = Counter(
            "supportbot_generator_fallbacks_total",
            "Generated drafts replaced by the extractive answer, by reason "
            "(unsupported, off_topic, declined, timeout, error).",
            ["reason"],
            registry=self.registry,
        )
        self.generated_answers = Counter(
            "supportbot_generated_answers_total",
            "Answers written by the generator that passed the grounding check.",
            registry=self.registry,
        )
        self.generator_redrafts = Counter(
            "supportbot_generator_redrafts_total",
            "Generated answers that are a second draft (the first was rejected before any "
            "of it was shown).",
            registry=self.registry,
        )
        self.connections = Gauge(
            "supportbot_websocket_connections", "Open chat WebSockets.", registry=self.registry
        )
