"""What the handlers call: the ``POST /detect`` request (``request``), the S3 upload flow
(``uploads``), and the JSON documents both return or write (``documents``).
"""
