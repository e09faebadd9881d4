from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = False


# Expand, step 2 of 3: the vectors of the posts written before migration 5, in committed batches. One statement
# (a CALL that commits between batches must not run inside a transaction, aerich's or an implicit one).
async def upgrade(db: BaseDBAsyncClient) -> str:
    return """CALL posts_search_backfill(2000)"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    # Nothing to undo: the vectors go with their column when migration 5 is reverted.
    return """SET LOCAL lock_timeout = '500ms'; SELECT 1"""


MODELS_STATE = (
    "eJztXGtT27oW/SsafwFmaIeG56Vn7kygacttgQ7ktmdOe8ZRbMXRYEs+ltyQ6eW/3y3Zjt"
    "/GCa9A8wWSLW1Z3kvejyU5vwyP28QVr09s4vlcEmZNP5GpcYh+GQx7BD7U9NhEBvb9tF0J"
    "JB66WoWmfc0rMtWNeChkgC0J7SPsCgIimwgroL6knCmtLvpyftlfE2gwyFzsFVxtMECY2U"
    "iOCfwXExIgKpHD5SHCKCAymKIJlWPKdA+4IIzh0hGR1CPIIVKAHMtEFTuYstdqSja3YE6U"
    "OU9y9ZDRf0JiSg59xiSAOXz/bvAJg4/QCuMYf/8NHyizyTURqll99a/MESWunYOI2kpFy0"
    "059bXsiDonTL7XfdW9Dk2Lu6HH0v7+VI45mylQJpXUITADLIm6ggxChRMLXTeGNoEumnza"
    "JZplRscmIxy6Cm2lHU0glRmmeXbeNy97fdM0Sish0cjAE4ssztQqgqkKbQBHTeHVvzqd7e"
    "39ztb23sHuzv7+7sHWAfTV8y037d9Ek0mtFQ2lbXby4eSsrybEYalGa1kJbrQOljjS0mCk"
    "1p9hlgfgeIyDavPPFAoIwK0VEUjs3QRBIkgxSB+wxUEw1kJBgsM/qP3vNTTisHKRhV0Xlr"
    "Ba7fBN8ivCNtEaZpxNPR6KNcTVQp5QQYpPVw18Hr42XcIcOYav250GZL52L44/di/Wtzsb"
    "eXjO4paOblJApcBcRX6qLSxx92UGpf2TkTNtZ3e3hW2hV61xdVveuiO4Pgn8IPYbba1cUF"
    "tmaxsfT7vHiI+QBx6a25vIx2rlQywYcnuK1hkHiRATHthISB4Qe2ORhb+30wKcvZ1abFRT"
    "HhohsQwFGN0mZWhqo0JB6/bwUIFM7P0fGpgzUEGTMXWJDrojGggJsRiuCf+pQEHImAJgni"
    "jSebOzv3OwvbczCx4zSVPMSOJDan21OMpm75PrGrsn/Rd6FB7H4K39ToOh+r0/dWj1hPjH"
    "za7g9dPun3pxe9O45fP52Yeke2bFH38+PyrY2gqIso2JK3zQO2hRSVi11fOaBdvbserr5M"
    "PyOKV7geLktHfZ755+yeHxrtvvqZZODotEur5XcECzQdC3k/5HpL6iv87PetqcXEgn0FdM"
    "+/X/MtSccCi5yfjExHbWJok4EeVgJtc+heEWgDmv+TgwP2YK/NxRVjXN6CqTVyvBEFtXEx"
    "zYZqmFd3hd33KT1/GKEsywozFS1lTzjKvbz9yhrD8OuJT6vkvlb77DZlP166qupoz7tix+"
    "32MIZpBGUIe9okwgX9WKlsVDJhEk35ZLCXwCY4K9BYqLTSsMAiWewNrjk0MkIOuCQYZTRH"
    "4SqEsD4rvUwuVi98GvVlHcti1mnzJrf4hq1lgjHpj78I/YnFBOgYnXqJ+RLFYvbbUqmLYa"
    "KqatjVtq2xHMPAyiRdwyjcyqLJRDLlsgve/8MHp+TEi3g8VSl8oBVhnMKrZVx7YvcCtVIU"
    "3LGyOZMkJr8lZCgYMmAZWSMBUUOCNIUUhVVGtj39tjx3dl6zEPzIjIzKfyIIPu32ukksbx"
    "OxL8MlIjGoLgwBqbP4kFxbxqVdmjctBwjzMzp5zrtantY+bVlP3iZ/DDyZmhBwHbqe/GzY"
    "rBXUoGd7Yo2iYdM4Vlpq8WJQu32uQV0KueLNzaKjJSK05kxYksARQG3KB9ztxpvEqeSYYR"
    "L+hGiiT07QVRz2uuUF8W1Cvyynj2Gaa/mHsUHOzlV91SQ/gXlZfY2xp9FXLR+oRQZyxRdy"
    "OzD3O0sYmuiC9VJolhPtRxSIDWPerAtEEd7W4kHIZKAYZYkDWBortHLmZOCIlzuxK8aelc"
    "fu0d988vNJSCh4FFChk6jDWimbGjexGpINpEqny8cwlv+zwxp/aSqvFHyBhL5VsRjTIU7w"
    "E/6rBPZKrhOIGZY2ZVZYpxDfZfQZ5jxniTrLNEmvqBAE9m9U1++cHdwz0TGeXW3cvj7rte"
    "VBI9SE2cSe+xU0FgnWI27XP1tyVWfewsC6d4H0DpuzILnEB8jwFxdUqQtM6IgBEPtPGv9C"
    "ExZdkY3BkscYvSiJsUEx4645k0gaNyPYDcLFn4ppnfCPiIVrP2SdNmI8sRdWpJdHzTh7k0"
    "W4EEngqEhzyUKrh4grijtwiaPbhNzWkoXr2aA1l8mDtQ6yuW4SlZhiHl83AMcfclzskWJx"
    "haMgyNFEOJY5iQoaByLh4no/IS7bxz0MrOOwcNdlaNK37hZVeaK37hd0S9Db+gso65i86M"
    "0v2UnL9J8nCn/cI8ZmXAzhnpc/jzwIXpslY7ubI0s0BbFKV32ny94JNjdazGqKhOZm2N5U"
    "kAD6w+mdOyQOldQzMCLRRpzaixmBgTWWZse2MTCY5CBhWQJOo4j0uh6JBcwuAwQFyAqNGU"
    "kyvXMQ96tR/sBxsMlNUGA3WsdzBQyInBYDP5eIhtj7KswCPekATQnwcg04XrYPAafYs3mz"
    "m4aT29PBmYzPauFZb+P0cCmvRf3uNLCyaf93Wovb6cYvMFJbZiQB83IN2fD1WkVIX7jLmq"
    "es+ZEE1tTq+4fEKCVxZ4AwS4E/ctwkg5DzTGAoU++Cgk1etOGMGoWojZFCaqnI16RUQ7mq"
    "qjLvc38Ir4WeJHpdFTvbigYFzqnarM4m63fZaPEbttaKDdehJoV1NAj+ekUkRTPvxuWwrJ"
    "EbxlwPTB9hSSmyxuKsy2ZfJ7Cpmdg+KmQrrdcKc9BV3lNkYcXf1UhJykKqqPOToJbRt0fO"
    "gLafFkzPVRfHXS/i3iE3Ugvy6ctFFpc4Cy+nRkwKPNkurWxC+p76tQswo1S5cY56LLm1a7"
    "DG8aNhnelPcY9Ksc8xh4pvDSg3lnt03FB70a3jEvvcicvF5tQl48nsfsJcUXuMAf5K3+JA"
    "KUDd2DmqSU1uSMnug+nq2NiO0x5lzw3XenJ2eHSHNHP9hp7/Sod3GIMmPN62r22niaIo2f"
    "cTR7RRj0j2uYPyHYqymX8KiNpiW9x2M8tuYE4Sj0fPA6kMzMfkTBGmPmEMhnXBuKX30vQv"
    "2ygo+g+erJXuhfbXjWm/p5bn2tNjx/R9TrNjznYBBupQCOYrX3ny5UuVvthe9Y/S/p4c+b"
    "ueiVjCXTQ3rVtky2LltYNB3qeZ3cabTpHFR5lwTUGhsV1EXcstlEXuC0z23sRf2d3TNN/b"
    "sQB3fMVuopgdoksr56qs8fV3VTTd2kHqo5LBx3f4HWfRDaBa4oSdXvzP3n8vysJvVOVYoZ"
    "GLUk+p8+evAMrd1gXGWMXJpVepu0+OJoIX9SAxw99b7vzf8Btt2+aA=="
)
