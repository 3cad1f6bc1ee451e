"""Huiqi's web app: a firm's self-check, the bureaus' screening and budgets, the catalogue and the JSON API.

`create_app()` builds the app (the Flask tutorial's factory); each area is a blueprint of its own. The app calls the
engine and holds no policy: every threshold, rate, measure name and label comes from rules/ through the engine.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from .config import load_config


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=os.environ.get("HUIQI_INSTANCE") or None, instance_relative_config=True)
    from .ids import IdConverter

    app.url_map.converters["int"] = IdConverter  # before any route: an id out of range is a 404, not an overflow
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    load_config(app, test_config)
    from engine.common.tempfiles import sweep

    sweep()  # the temporaries of a server or run that was killed

    from . import db, i18n, security
    from .auth import bp as auth_bp, init_auth
    from .api import bp as api_bp
    from .audit import bp as audit_bp
    from .budget_views import bp as budget_bp
    from .catalogue import bp as catalogue_bp
    from .errors import init_errors
    from .guided import bp as guided_bp
    from .jobs import init_jobs
    from .ledger_views import bp as ledger_bp
    from . import payout_db  # noqa: F401  (its tables are created with the others)
    from .payout import bp as payout_bp
    from .payout_firm import bp as payout_firm_bp
    from . import payout_api  # noqa: F401  (its routes are on the API blueprint)
    from .screening import bp as screening_bp
    from .selfcheck import bp as selfcheck_bp

    db.init_db(app)
    i18n.init_i18n(app)
    security.init_security(app)
    init_auth(app)
    init_jobs(app)
    init_errors(app)
    for bp in (selfcheck_bp, auth_bp, screening_bp, budget_bp, ledger_bp, catalogue_bp, api_bp, audit_bp, payout_bp,
               payout_firm_bp, guided_bp):
        app.register_blueprint(bp)
    _template_helpers(app)
    return app


def _template_helpers(app: Flask) -> None:
    from engine.rules.loader import default_rules

    from flask_login import current_user

    from .i18n import lang
    from .permissions import can

    app.jinja_env.globals["can"] = lambda permission: can(current_user, permission)
    app.jinja_env.globals["rules_version"] = lambda: default_rules().version
    app.jinja_env.filters["label_of"] = lambda field: default_rules().label(field, lang())
