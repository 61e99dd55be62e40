from credcore.errors import CredError, MalformedInputError, all_error_classes
from credcore.verification import Code


def test_error_codes_are_unique():
    codes = [cls.code for cls in all_error_classes()]
    assert len(codes) == len(set(codes))


def test_every_error_code_is_snake_case_and_titled():
    for cls in all_error_classes():
        assert cls.code.replace("_", "").isalpha() and cls.code.islower(), cls
        assert cls.title, cls


def test_check_codes_are_stable_snake_case():
    for code in Code:
        assert code.value.replace("_", "").isalpha() and code.value.islower()


def test_error_message_carries_code_and_detail_but_context_is_separate():
    err = MalformedInputError("bad thing", index=3)
    assert str(err) == "malformed_input: bad thing"
    assert err.context == {"index": 3}
    assert isinstance(err, CredError)
