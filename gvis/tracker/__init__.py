"""The recurrent graph tracker: state, recurrent gates, appearance models, heads, online API."""
