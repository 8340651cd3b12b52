"""Label Studio side of bench/annotate_load.py — run with Label Studio's own Python.

    /tmp/ls-venv/bin/python bench/annotate_load_ls.py setup <annotators> <out.json>

Migrates Label Studio's database (PostgreSQL, from its DJANGO_DB/POSTGRE_* environment), creates
an organisation with legacy API tokens on, an admin, the annotators and a thumbs up/down project
with overlap 1, and writes their tokens and the project id to out.json. Tasks are imported later
through Label Studio's own import API by the benchmark, once its server is up.
"""

import json
import os
import sys

LABEL_CONFIG = """<View>
  <Text name="prompt" value="$prompt"/>
  <Text name="text" value="$response"/>
  <Choices name="thumbs" toName="text" choice="single" required="true">
    <Choice value="up"/><Choice value="down"/>
  </Choices>
</View>"""


def setup(annotators, out_path):
    import label_studio

    sys.path.insert(0, os.path.dirname(label_studio.__file__))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.label_studio")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-color", verbosity=0)
    from organizations.models import Organization
    from projects.models import Project
    from rest_framework.authtoken.models import Token
    from users.models import User

    admin = User.objects.create_user(email="admin@bench.local", password=None)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    org = Organization.create_organization(created_by=admin, title="Bench", legacy_api_tokens_enabled=True)
    admin.active_organization = org
    admin.save(update_fields=["active_organization"])
    project = Project.objects.create(
        title="bench",
        created_by=admin,
        organization=org,
        label_config=LABEL_CONFIG,
        maximum_annotations=1,
        sampling=Project.SEQUENCE,
    )
    tokens = []
    for n in range(annotators):
        user = User.objects.create_user(email=f"ann{n}@bench.local", password=None)
        org.add_user(user)
        user.active_organization = org
        user.save(update_fields=["active_organization"])
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    admin_token = Token.objects.get_or_create(user=admin)[0].key
    with open(out_path, "w") as fh:
        json.dump({"project": project.pk, "admin_token": admin_token, "tokens": tokens}, fh)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "setup":
        sys.exit(__doc__)
    setup(int(sys.argv[2]), sys.argv[3])
