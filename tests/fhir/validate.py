"""Validates Careline's FHIR exports with an independent library: fhir.resources (R4B models).

Usage: validate.py DIR. DIR holds questionnaire-*.json (Questionnaire resources) and
bundle-*.json (Bundles of QuestionnaireResponse and Patient). Every file must parse into its
model; every response must answer items its questionnaire has, with codings among its answer
options; PHQ-9 must carry the published LOINC codes. Prints one line per file, then
"N passed, N failed"; exits 1 on any failure.
"""
import json
import pathlib
import sys

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

LOINC = "http://loinc.org"
PHQ9_ITEMS = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
              "44253-3", "44260-8"]
PHQ9_ANSWERS = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
GAD7_ITEMS = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]


def codes(q, link_id):
    for item in q.item:
        if item.linkId == link_id:
            return [(c.system, c.code) for c in (item.code or [])]
    raise AssertionError(f"no item {link_id}")


def check_questionnaire(raw):
    q = Questionnaire.model_validate(raw)
    assert q.status == "active" and q.url and q.item, "status, url and items"
    if q.url.endswith("/phq9"):
        assert (LOINC, "44249-1") in [(c.system, c.code) for c in q.code], "PHQ-9 panel"
        for i, code in enumerate(PHQ9_ITEMS):
            assert codes(q, f"q{i + 1}") == [(LOINC, code)], f"PHQ-9 item {i + 1}"
            options = [o.valueCoding.code for o in q.item[i].answerOption]
            assert options == PHQ9_ANSWERS, f"PHQ-9 answers of item {i + 1}: {options}"
        assert codes(q, "score-total") == [(LOINC, "44261-6")], "PHQ-9 total"
    if q.url.endswith("/gad7"):
        assert (LOINC, "69737-5") in [(c.system, c.code) for c in q.code], "GAD-7 panel"
        for i, code in enumerate(GAD7_ITEMS):
            assert codes(q, f"q{i + 1}") == [(LOINC, code)], f"GAD-7 item {i + 1}"
        assert codes(q, "score-total") == [(LOINC, "70274-6")], "GAD-7 total"
    return q


def check_bundle(raw, questionnaires):
    bundle = Bundle.model_validate(raw)
    assert bundle.type == "collection"
    responses = 0
    patients = {}
    for entry in raw["entry"]:
        kind = entry["resource"]["resourceType"]
        if kind == "Patient":
            patients[entry["fullUrl"]] = Patient.model_validate(entry["resource"])
            continue
        assert kind == "QuestionnaireResponse", kind
        r = QuestionnaireResponse.model_validate(entry["resource"])
        responses += 1
        assert r.status == "completed"
        url = r.questionnaire.split("|")[0]
        q = questionnaires[url]
        items = {i.linkId: i for i in q.item}
        for answered in r.item:
            assert answered.linkId in items, f"{answered.linkId} is not an item of {url}"
            asked = items[answered.linkId]
            for a in answered.answer or []:
                if asked.type == "choice":
                    offered = [(o.valueCoding.system, o.valueCoding.code) for o in asked.answerOption]
                    got = (a.valueCoding.system, a.valueCoding.code)
                    assert got in offered, f"{answered.linkId}: {got} not among {offered}"
                else:
                    assert asked.type == "decimal" and a.valueDecimal is not None
        if r.subject is not None:
            assert r.subject.reference in patients, "the subject is in the bundle"
    assert responses >= 1, "at least one QuestionnaireResponse"
    return bundle, patients


def main():
    folder = pathlib.Path(sys.argv[1])
    passed = failed = 0
    questionnaires = {}
    for path in sorted(folder.glob("questionnaire-*.json")):
        try:
            q = check_questionnaire(json.loads(path.read_text(encoding="utf-8")))
            questionnaires[q.url] = q
            print(f"ok {path.name}")
            passed += 1
        except Exception as e:  # noqa: BLE001 - every failure is reported by file
            print(f"FAILED {path.name}: {e}")
            failed += 1
    for path in sorted(folder.glob("bundle-*.json")):
        try:
            _, patients = check_bundle(json.loads(path.read_text(encoding="utf-8")), questionnaires)
            print(f"ok {path.name} ({len(patients)} patient)")
            passed += 1
        except Exception as e:  # noqa: BLE001
            print(f"FAILED {path.name}: {e}")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
