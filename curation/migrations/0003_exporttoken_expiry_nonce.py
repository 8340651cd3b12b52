from django.db import migrations, models


class Migration(migrations.Migration):
    """Export tokens: an optional expiry, and the nonce of the form that issued them (re-posting the
    form issues nothing). Existing tokens keep working: no expiry, no nonce."""

    dependencies = [
        ("curation", "0002_reroute_schedule"),
    ]

    operations = [
        migrations.AddField(
            model_name="exporttoken",
            name="expires_at",
            field=models.DateTimeField(blank=True, help_text="Empty: no expiry.", null=True),
        ),
        migrations.AddField(
            model_name="exporttoken",
            name="issue_nonce",
            field=models.UUIDField(blank=True, editable=False, help_text="The issuing form's nonce: submitting that form again issues nothing.", null=True),
        ),
        migrations.AddConstraint(
            model_name="exporttoken",
            constraint=models.UniqueConstraint(fields=("project", "issue_nonce"), name="exporttoken_once_per_form"),
        ),
    ]
