"""The control plane's domain objects, one module each, re-exported here."""

from paas.platform.models.addon import Addon, AddonAttachment, AddonBackup
from paas.platform.models.alert import LogAlert
from paas.platform.models.app import App, Collaborator
from paas.platform.models.autoscale import Autoscale
from paas.platform.models.build import Build
from paas.platform.models.canary import Canary
from paas.platform.models.certificate import Certificate
from paas.platform.models.config import Config
from paas.platform.models.domain import Domain
from paas.platform.models.drain import LogDrain
from paas.platform.models.event import Event
from paas.platform.models.formation import Formation
from paas.platform.models.host import Host
from paas.platform.models.instance import Instance
from paas.platform.models.log_retention import LogRetention
from paas.platform.models.registrylogin import RegistryLogin
from paas.platform.models.release import Release
from paas.platform.models.team import Team, TeamMembership
from paas.platform.models.token import APIToken

__all__ = [
    "Addon",
    "AddonAttachment",
    "AddonBackup",
    "APIToken",
    "App",
    "Autoscale",
    "Build",
    "Canary",
    "Certificate",
    "Collaborator",
    "Config",
    "Domain",
    "Event",
    "Formation",
    "Host",
    "Instance",
    "LogAlert",
    "LogDrain",
    "LogRetention",
    "RegistryLogin",
    "Release",
    "Team",
    "TeamMembership",
]
