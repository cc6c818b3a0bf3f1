"""The words on the page, kept apart from the code that shows them."""

from __future__ import annotations

TITLE = "Old photo restoration"

INTRO = (
    "# Restore an old photograph\n"
    "Upload a scan, paint over the cracks, scratches, stains and missing pieces (or let *Suggest "
    "damage* mark them, then correct its suggestion), and compare several restorations. "
    "Your photo is processed on this server and is not kept unless you allow it."
)

MODEL_MISSING = (
    "**The restoration model's weights are missing**: {reason}. "
    "Only the classical methods (Telea, Navier-Stokes, biharmonic, PatchMatch) are available "
    "until trained weights are installed."
)

MODEL_READY = "Model: partial-convolution U-Net `{version}` ({parameters:,} parameters, {device})."

CLASSICAL_LABELS = {
    "telea": "Telea (fast marching)",
    "ns": "Navier-Stokes",
    "biharmonic": "Biharmonic",
    "patchmatch": "PatchMatch (slow on large damage)",
}

CONSENT = (
    "### Before we record your choice\n"
    "This project studies which restorations people prefer. If you agree, we record, "
    "**anonymously**: which restoration you chose (or your ranking), the order they were shown "
    "in, the settings that made each one, how long you took, and fingerprints (hashes) and "
    "sizes of the photo and of the damage mask. We never record your name, address or account. "
    "The photo itself and the restored images are kept **only if you tick** *You may keep my "
    "photo*. A random id stored in this browser links your choices to each other and to nothing "
    "else. You are asked once; clearing the site's data in your browser forgets the id."
)

STUDY_NONE = (
    "### Preference study\n"
    "This tab is for participants of a study: open the link you were given "
    "(it ends in `?study=...`). To restore your own photos, use the **Restore** tab."
)

STUDY_CONSENT = (
    "### {name}\n"
    "{description}\n\n"
    "You will see **{total} photos**, each restored in several ways, shown in random order. "
    "{task} There are no right or wrong answers; it takes about {minutes} minutes.\n\n"
    "We record, anonymously, your answers, the order the restorations were shown in and how "
    "long you took. Nothing identifies you: a random id kept in this browser lets you continue "
    "where you left off if you reload the page. Taking part is voluntary and you can stop at any "
    "time."
)

STUDY_TASK = {
    "pick": "For each photo, click the restoration you find best and press **Submit**.",
    "rank": "For each photo, click the restorations from best to worst and press **Submit**.",
}

STUDY_THANKS = "### Thank you!\nYour answers are recorded. You have completed this study and can close the page."

ADMIN_DISABLED = "The researcher tab is disabled: no `STUDY_ADMIN_TOKEN` is configured on this server."
