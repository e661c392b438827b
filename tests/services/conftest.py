"""The forky stack of the buildpack tests (built once, kept under PAAS_TEST_STACKS_DIR): add-on servers on it."""

from tests.buildpacks.conftest import _forky_stack_built, forky_stack  # noqa: F401 (fixtures)
