"""Indicator semantics as data: derivations, per-province population bounds, working age per birth cohort, coverage and e-health capabilities (issue 15)."""

import django.db.models.deletion
from django.db import migrations, models

# The counting rules now also read the derivations and the provinces' bounds: a change to either
# moves the rules version on (the trigger function of 0011), as for the indicators.
TRIGGERS = """
CREATE TRIGGER fieldteam_capabilityderivation_rules_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fieldteam_capabilityderivation
    FOR EACH STATEMENT EXECUTE FUNCTION fieldteam_counting_rules_changed();
CREATE TRIGGER fieldteam_indicatorpopulationbound_rules_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fieldteam_indicatorpopulationbound
    FOR EACH STATEMENT EXECUTE FUNCTION fieldteam_counting_rules_changed();
"""
DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS fieldteam_capabilityderivation_rules_changed ON fieldteam_capabilityderivation;
DROP TRIGGER IF EXISTS fieldteam_indicatorpopulationbound_rules_changed ON fieldteam_indicatorpopulationbound;
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)

    return run


def forget_yearly_ages(apps, schema_editor):
    apps.get_model("fieldteam", "RetirementAge").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0018_official_population")]

    operations = [
        migrations.CreateModel(
            name='CapabilityDerivation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('any_member', 'A household holds it when any current member holds the source'), ('implies', 'Holding the source implies holding it')], max_length=12, verbose_name='kind')),
            ],
            options={
                'verbose_name': 'capability derivation',
                'verbose_name_plural': 'capability derivations',
                'ordering': ['target__sort_order', 'source__sort_order'],
            },
        ),
        migrations.CreateModel(
            name='IndicatorPopulationBound',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('min_age', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='minimum age')),
                ('max_age', models.PositiveSmallIntegerField(blank=True, help_text='Inclusive: residents up to and including this age.', null=True, verbose_name='maximum age')),
                ('source', models.CharField(blank=True, help_text='The plan that defines it.', max_length=200, verbose_name='source')),
            ],
            options={
                'verbose_name': 'province population bound',
                'verbose_name_plural': 'province population bounds',
                'ordering': ['province', 'indicator__sort_order'],
            },
        ),
        migrations.AlterModelOptions(
            name='retirementage',
            options={'ordering': ['sex', 'born_from'], 'verbose_name': 'retirement age', 'verbose_name_plural': 'retirement ages'},
        ),
        migrations.RemoveConstraint(
            model_name='retirementage',
            name='retirement_age_unique',
        ),
        # The rows were by year of retirement; the cohorts are loaded from fixtures/retirement_ages.json.
        migrations.RunPython(forget_yearly_ages, migrations.RunPython.noop, elidable=False),
        migrations.RemoveField(
            model_name='retirementage',
            name='year',
        ),
        migrations.AddField(
            model_name='household',
            name='derived_mask',
            field=models.BigIntegerField(db_default=0, default=0, editable=False, verbose_name='capabilities held through members'),
        ),
        migrations.AddField(
            model_name='retirementage',
            name='born_from',
            field=models.DateField(default=None, help_text='The first day of the first birth month.', verbose_name='born from (month)'),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name='retirementage',
            constraint=models.UniqueConstraint(fields=('sex', 'born_from'), name='retirement_age_unique_cohort'),
        ),
        migrations.AddConstraint(
            model_name='retirementage',
            constraint=models.CheckConstraint(condition=models.Q(('born_from__day', 1)), name='retirement_age_born_from_first_of_month'),
        ),
        migrations.AddField(
            model_name='capabilityderivation',
            name='source',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='derivations_from', to='fieldteam.capability', verbose_name='held capability'),
        ),
        migrations.AddField(
            model_name='capabilityderivation',
            name='target',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='derivations_to', to='fieldteam.capability', verbose_name='derived capability'),
        ),
        migrations.AddField(
            model_name='indicatorpopulationbound',
            name='indicator',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='province_bounds', to='fieldteam.indicator', verbose_name='indicator'),
        ),
        migrations.AddField(
            model_name='indicatorpopulationbound',
            name='province',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='population_bounds', to='fieldteam.area', verbose_name='province'),
        ),
        migrations.AddConstraint(
            model_name='capabilityderivation',
            constraint=models.UniqueConstraint(fields=('source', 'target'), name='capability_derivation_unique'),
        ),
        migrations.AddConstraint(
            model_name='capabilityderivation',
            constraint=models.CheckConstraint(condition=models.Q(('source', models.F('target')), _negated=True), name='capability_derivation_not_itself'),
        ),
        migrations.AddConstraint(
            model_name='capabilityderivation',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['any_member', 'implies'])), name='capability_derivation_kind_valid'),
        ),
        migrations.AddConstraint(
            model_name='indicatorpopulationbound',
            constraint=models.UniqueConstraint(fields=('province', 'indicator'), name='population_bound_unique'),
        ),
        migrations.AddConstraint(
            model_name='indicatorpopulationbound',
            constraint=models.CheckConstraint(condition=models.Q(('min_age__isnull', True), ('max_age__isnull', True), ('max_age__gte', models.F('min_age')), _connector='OR'), name='population_bound_ordered'),
        ),
        migrations.RunPython(_on_postgresql(TRIGGERS), _on_postgresql(DROP_TRIGGERS), elidable=False),
    ]
