from django.db import migrations, models


class Migration(migrations.Migration):
    """A judge's key is now a name the deployment declares (TANDEM_JUDGE_KEYS), not any environment
    variable. Existing values are kept as names: `OPENAI_API_KEY` keeps working once declared, e.g.
    TANDEM_JUDGE_KEYS=OPENAI_API_KEY=OPENAI_API_KEY; an undeclared one fails the judge's runs with
    a message naming it."""

    dependencies = [
        ("annotate", "0003_source_annotator_project_label_kind"),
    ]

    operations = [
        migrations.RenameField(model_name="lmjudge", old_name="api_key_env", new_name="api_key_name"),
        migrations.AlterField(
            model_name="lmjudge",
            name="api_key_name",
            field=models.CharField(blank=True, help_text="Name of a key the deployment declares in TANDEM_JUDGE_KEYS (not an environment variable).", max_length=100),
        ),
    ]
