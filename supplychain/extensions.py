"""Extension objects, created unbound and initialised by the app factory."""

from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from supplychain.ids import IdConverter, id_parameter_schema
from supplychain.models.base import Base

# Models derive from our own typed Base; sharing its metadata lets db.metadata see them.
db = SQLAlchemy(metadata=Base.metadata)
api = Api()
# `<id:...>` path parameters: documented as the strings they are (views get the parsed id).
api.register_converter(IdConverter, id_parameter_schema)
