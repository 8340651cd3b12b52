"""Parsing judge replies: the text helpers (`annotate.kinds.replies`) and each kind's parser, which
lives in its kind module next to the template it reads. Gathered here under their old names for the
code that reads replies outside a kind (curation features, benches)."""

from annotate.kinds.binary import parse_binary as parse_binary
from annotate.kinds.edit import parse_edit as parse_edit
from annotate.kinds.likert import parse_likert as parse_likert
from annotate.kinds.pairwise import PAIRWISE_KEYS as PAIRWISE_KEYS
from annotate.kinds.pairwise import parse_pairwise as parse_pairwise
from annotate.kinds.pairwise import preference_value as preference_value
from annotate.kinds.ranking import parse_ranking as parse_ranking
from annotate.kinds.replies import NO as NO
from annotate.kinds.replies import RATIONALE_KEYS as RATIONALE_KEYS
from annotate.kinds.replies import YES as YES
from annotate.kinds.replies import Parsed as Parsed
from annotate.kinds.replies import json_objects as json_objects
from annotate.kinds.replies import unparsed as unparsed
from annotate.kinds.replies import yes_no as yes_no
