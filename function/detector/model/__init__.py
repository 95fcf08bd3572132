"""The user's model at rest and in memory: the sealed format (``artifact``, reader and writer
side by side), where its key comes from (``keys``), and the container's loaded copy
(``store``: fetch, check, decrypt, session, once per cold start).
"""
