"""The outside systems a live run talks to, built from the settings (DESIGN §8). Each is optional: what is
not configured is left out, and the graph does what it can without it (see graph/context.py)."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from kubernetes.client import ApiClient
from kubernetes.config import ConfigException

from graph.config import HealerSettings
from graph.context import HealerContext, SessionBudget
from graph.llm import chat_model
from graph.session import SessionStart
from graph.triage.matcher import Matcher, best_matcher
from tools.discord import DiscordConfig, DiscordNotifier
from tools.github import GitHubConfig, GitHubTools
from tools.kubernetes import KubeError, KubernetesTools, api_client_from_environment
from tools.loki import LokiClient, LokiConfig
from tools.slack import SlackConfig, SlackNotifier
from tools.tls import client_tls

log = logging.getLogger(__name__)


@functools.cache
def shared_matcher() -> Matcher:
    """One matcher for every session of the process (triage runs on the event loop's thread)."""
    return best_matcher()


def github_config(settings: HealerSettings) -> GitHubConfig:
    return GitHubConfig(
        token=settings.github_token.get_secret_value() if settings.github_token else None,
        app_id=settings.github_app_id,
        app_private_key=settings.github_app_private_key.get_secret_value()
        if settings.github_app_private_key
        else None,
        installation_id=settings.github_installation_id,
        base_url=settings.github_api_url,
    )


def loki_config(settings: HealerSettings) -> LokiConfig:
    assert settings.loki_url is not None
    return LokiConfig(url=settings.loki_url, tenant=settings.loki_tenant, timeout_s=settings.loki_timeout_s)


@dataclass(slots=True)
class SharedClients:
    """The outside clients every session of a process borrows: one Loki client, one Kubernetes API client
    and one LLM transport, instead of a set (and a kubeconfig read) per session runner."""

    loki: LokiClient | None = None
    kube_api: ApiClient | None = None
    llm_http: httpx.AsyncClient | None = None


@contextlib.asynccontextmanager
async def shared_clients(settings: HealerSettings) -> AsyncIterator[SharedClients]:
    """The clients the settings configure; closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        clients = SharedClients()
        if settings.openai_api_key or settings.openai_base_url:
            clients.llm_http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=settings.llm_timeout_s, verify=client_tls())
            )
        if settings.loki_url:
            clients.loki = await stack.enter_async_context(LokiClient(loki_config(settings)))
        if settings.kubernetes_enabled:
            try:
                clients.kube_api = api_client_from_environment(settings.kubeconfig)
                stack.callback(clients.kube_api.close)
            except (ConfigException, OSError, KubeError) as error:
                log.warning("kubernetes: not used: %s", error)
        yield clients


@contextlib.asynccontextmanager
async def live_context(
    settings: HealerSettings,
    session: SessionStart,
    *,
    budget: SessionBudget | None = None,
    clients: SharedClients | None = None,
) -> AsyncIterator[HealerContext]:
    """A session's context on `clients` (the process's, which outlive it), or on clients of its own."""
    async with contextlib.AsyncExitStack() as stack:
        if clients is None:
            clients = await stack.enter_async_context(shared_clients(settings))
        context = HealerContext(
            settings=settings,
            matcher=shared_matcher(),
            budget=budget or SessionBudget(settings.session_llm_calls),
        )
        if clients.llm_http is not None:
            context.evaluation_llm = chat_model(settings, settings.evaluation_model, clients.llm_http)
            context.remediation_llm = chat_model(settings, settings.remediation_model, clients.llm_http)
        context.loki = clients.loki
        if clients.kube_api is not None:
            context.kube = KubernetesTools(clients.kube_api, session.namespace or "default")
        if settings.github_configured() and session.repository:
            context.github = GitHubTools(github_config(settings), session.repository)
            stack.callback(context.github.close)
        if settings.discord_webhook_url:
            webhook = settings.discord_webhook_url.get_secret_value()
            context.discord = await stack.enter_async_context(
                DiscordNotifier(DiscordConfig(webhook_url=webhook))
            )
        if settings.slack_webhook_url:
            webhook = settings.slack_webhook_url.get_secret_value()
            context.slack = await stack.enter_async_context(SlackNotifier(SlackConfig(webhook_url=webhook)))
        yield context
