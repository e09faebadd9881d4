from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


# Expand, one step: a nullable column without a default only touches the catalog; lock_timeout makes the ALTER give
# up after 500 ms instead of queueing requests behind it while it waits for the table's lock (the upgrade retries).
# Keys kept before it have no ETag: their replays carry the digest of the kept body (service/idempotency.py).
async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        SET LOCAL lock_timeout = '500ms';
        ALTER TABLE "idempotency_keys" ADD "etag" VARCHAR(80);
        COMMENT ON COLUMN idempotency_keys."etag" IS 'The answer''s ETag (null before migration 8)';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        SET LOCAL lock_timeout = '500ms';
        ALTER TABLE "idempotency_keys" DROP COLUMN "etag";"""


MODELS_STATE = (
    "eJztXFtv27gS/iuEXpIAaZE6100XB3BSt822SYrEp11su5BpiZaJyKRLUnWMnvz3M6Qk66"
    "7Kzs1J/ZLYwxmKnCHn8pHyT2vEXeLLlycuGY25IsyZfiBT6xD9tBgeEfhQwbGJLDweJ+2a"
    "oHDfNyI04bWvyNQ04r5UAjsK2gfYlwRILpGOoGNFOdNSbfTp/LK7JlGvl3rYC3har4cwc5"
    "EaEvgvJ0QgqpDH1SHCSBAlpmhC1ZAywwEPhD58OiCKjgjyiJJAxyoWxR6m7KUekssdGBNl"
    "3qM8PWD0e0BsxYFnSASM4etXi08YfIRW6Mf691/4QJlLronUzfrr+MoeUOK7GRNRV4sYuq"
    "2mY0M7ot4JU28Nr55r33a4H4xYwj+eqiFnMwHKlKZ6BEaAFdFPUCLQdmKB70emjU0XDj5h"
    "CUeZknHJAAe+traWDgeQ0CzbPjvv2pedrm1bhZUQS6TME5EczvQqgqFKowBPD+HFH63W9v"
    "Z+a2t772B3Z39/92DrAHjNeItN+zfhYBJthV0ZnZ28Oznr6gFxWKrhWtaEGyODFQ6ljDES"
    "7c9sljXA8RCLcvXPBHIWgKnlLRDru84EMSGxQbLBFjeCtRZIIg7/pO5/1tCAw8pFDvZ9WM"
    "J6tcM3xa8I20RrmHE2HfFAriGuF/KESpLfXRXmG+Fr2yfMU0P4ut2qsczn9sXx+/bF+nZr"
    "I2ues6ilZZq0oRLDXIV+qqlZIvZlNkrznZFRbWt3t4FugatSuaYtq90BPJ+IsYj8RlMt58"
    "SWWdvW+9P2MeIDNAIPzd1NNMZ65UMs6HN3itYZB4qUEy5cJBUXxN1YZOHv7TQwzt5OpW10"
    "U9Y0UmEVSFC6S4qmqYwKOalfh4cSy0Te/74NcwYiaDKkPjFBd0CFVBCL4Znwn0okAsa0Ae"
    "aJIq1XO/s7B9t7O7PgMaPUxYw4PiTa14ujqPYuua7Qe8y/0FZ4GIU39js1iup2/jahdSTl"
    "dz+9gtdP23+bxT2aRi0fz8/exeypFX/88fwop2uisDeP94n5l1jXVneWaEIm2eliDzyNXu"
    "99AmGYoBH1YIzAiw4WcjcHWw3czcFWpbvRTVkjOIJopdm4JBC8gRadCZebIyuZM4obib6M"
    "PyxPZLiT/XBy2rnstk8/ZTbFm3a3o1tamQ0RU9f3cmaZdYK+nHTfI/0V/XN+1jHq5FJ5wj"
    "wx4ev+Y+kx4UBxm/GJjd20TmJyTMrutesxhe4WMHNW8mHM/JB1yFO3si4sB1ep4kYT+ti5"
    "mmDh2oUW3uJVvMWmUWuUp2CGPWMjrU09zghi+Mg9yrpDwZUy8y5gEFmGzToIwtestop4Gy"
    "IQbzFkFJDLUY+9oEyisS7YHYcHTCGogByfEvgEygR9SxRV/E4ghCZPYO3xySGSEHygk/4U"
    "kR9ETCEtGfvUwUXE4d6fVoIwNEUUHrN0ug9IwVojI1D34Z+ROqGmBRWv0XGKsljR2iSaAl"
    "dN2RrF02qAYQAjD0S4iBvm8mmRhRL5ZQukd52kh/vHhppHLJa6lHawymBWsa08tn2CqZSF"
    "NEOvjWRaCY0RdAVVJpoIqhRhOihwRpDG8crw7lreX8eOr1rXQy7sEE3OpvJAA/avFVRFo/"
    "gdEn5aiRItSbBwhvYP4igudKvOHrWDhjnO1JwA39e20Y+dFdP6i/bgu5Mzy3QCutPfrZsV"
    "jL6UMPpsUTRNOmYCy4whLorYbjXJK4CrGrHdKtTpK2Dq4YCpFSZSvdJhgu4586fRKnkiGU"
    "a0oGshkmDsLmj1rOTK6sti9ZK8Mhp96rgln3vkHOzlZ9NSceqSF15ib2t1dchF6xNCvaFC"
    "7Y3UYdjRxia6ImOlM0kM46GeRwRaT9Dq3Y0Yw9ApQB9LsiZROHvkY+YFkDg3K8Hrls7l58"
    "5x9/zCmFLyQDgkl6FDXwOa6juci0wI4Ule6fbOJLzN88SM2HOqxh8gYyyUb3lrFE3xFuxH"
    "PfaBTI05TmDkmDllmWJUg/1XkqeYMd7E6yymJn5A4MmsvskuP5g9zJmoMLduXx6333TCku"
    "heauJUeo+9EgDrFLNpl+u/DW3VDc/vlgFTvAtDmVnZOUwgmqMgvkkJ4tYZEDDgwij/ytzU"
    "05qNjDszS9SiJaImjYQH3nBGjc1Ruh6Abhc0fFOPbwg+oOWofdy0WYtyhEwNgY4v5kadQS"
    "uQxFOJcJ8HSgeXkST+4DWC5hFM02AaGlcvx0AW7+YW0PoKZXhMlKFP+TwYQ8S+xDnZ4gBD"
    "Q4ShFmIoYAwT0pdUzYXjpESeo553DhrpeeegRs+6cYUvPO9Kc4Uv/I5Wb4Iv6Kxj7qIzJX"
    "Q3Jedvkjzc6rwwa7Oiwc4Z6XL4c8+F6bJWO5myNLVAGxSltzp8veCTY32txiqpTmZtteWJ"
    "gA1rbuY0LFA619CMQAqFUjNoLALGZBoZ297YRJKjgEEFpIi+zuNTKDoUV9A5dBAVILo37e"
    "SKdcy9Pu0b+8Z6Pa21Xk/fre71tOVkr7cZfzzE7oiyNGFERn0igJ8LoJnCtdd7ib5Eh80c"
    "3LQZXhYMjEd72wrL/J8jAY35l/f60oLJ5129WVBdTrH5ghJbIaAPG5DuzodqUKrEfUZYVb"
    "XnjIGmJrdXfD4h4oUD3gCB3Yn/GmGknQcaYomCMfgopPQ7ZxhBr4aI2RQGqp2Nfk/HOJqy"
    "qy531/EK+FnirVLrqZ5dULAuzUlVanE3Oz7LxojdJjDQbjUItGsgoIdzUolFEzz8dkcK8R"
    "W8ZbDpvZ0pxJPMHyrMjmWyZwqpk4P8oUJy3HCrMwVT5dZGHFP9lIScuCqqjjkmCW0adMbA"
    "C2nxZMjNVXx90/414hN9Ib8qnDQRaXKBsvx2pODhYUl5a+yX9PdVqFmFmqVLjDPR5VWjU4"
    "ZXNYcMr4pnDOZVjnkUPBN47sG8tduk4gOumhf9C2+Tx++425AXD+dRe0HwGS7we/lphTgC"
    "FBXdgZqkkNZklB7LPpyurRDtseZc8O03pydnh8hgR9/Yaef0qHNxiFJ9zetq9pp4mjyMn3"
    "I0e3kzmF84sX9AsNdDLtijMpoW5B4O8dia0whHwWgMXgeSmdkvWThDzDwC+YzvQvFr5iL1"
    "z1uMETRfPdqvKqwOPKtV/TSPvlYHnr+j1asOPOdAEH4JARxFYm8/XOhyt9wL37L6X9LLnz"
    "dzwSspTSaX9Mp1GR9dNtBo0tXTurlTq9M5oPI2EdQZWiXQRdSyWQde4ITnV+hF9czuGKb+"
    "XYCDW2Yr1ZBAZRJZXT1V54+ruqmibtKbag4NR+zPULv3ArvAExUp+7G/vy7PzypS70Qkn4"
    "FRR6H/masHT1DbNcrVysikWYW3SfMvjubyJ93B0WOf+978HwDkOfY="
)
