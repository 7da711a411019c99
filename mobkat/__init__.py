"""mobkat: teams ("mobs") of LLM agents as pykka actors, with realtime live channels."""

__version__ = "0.1.0"
