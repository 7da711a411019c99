"""Where a mob's members run: in this process (pykka, the default) or over a Ray cluster.

The seam is :mod:`mobkat.mob.member_port` (``MemberEngine`` / ``MemberPort``). The Ray engine
(``pip install 'mobkat[ray]'``) lives here; importing this package does not import Ray.
"""
