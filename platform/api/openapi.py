"""An OpenAPI 3.1 description built from the same endpoint list as the URLs."""

from django.conf import settings

from paas.platform.api.routing import ROUTE_PARAM as PARAM

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}},
}


def describe(endpoints) -> dict:
    paths = {}
    for endpoint in endpoints:
        url = "/api/" + PARAM.sub(r"{\1}", endpoint.route)
        paths[url] = {method.lower(): operation(endpoint, method, handler) for method, handler in endpoint.handlers.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "paas API", "version": "1", "description": "Platform Control API of paas."},
        "servers": [{"url": settings.PAAS_API_URL}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def operation(endpoint, method: str, handler) -> dict:
    doc = (handler.__doc__ or "").strip().splitlines()
    op = {
        "operationId": f"{handler.__module__.rsplit('.', 1)[-1]}_{handler.__name__}",
        "summary": doc[0] if doc else handler.__name__,
        "tags": [endpoint.tag] if endpoint.tag else [],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in PARAM.findall(endpoint.route)
        ],
        "responses": {
            "200": {"description": "OK"},
            "default": {
                "description": "An error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if endpoint.public:
        op["security"] = []
    schema = getattr(handler, "body_schema", None)
    if schema is not None:
        op["requestBody"] = {"content": {"application/json": {"example": schema}}}
    return op
