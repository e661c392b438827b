"""How the logs page shows what hostile apps wrote: escaped, with the query's words marked (plain code)."""

from paas.web.views.logs import chips, highlight, query_words


def test_a_line_is_escaped_and_only_the_querys_words_are_marked():
    html = highlight('<script>alert("x")</script> ERROR at <b>', query_words('error -ignored status:>=500'))
    assert html == ('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; <mark>ERROR</mark> at &lt;b&gt;')


def test_phrases_are_marked_whole_and_a_bad_query_marks_nothing():
    assert highlight("a slow request here", query_words('"slow request"')) == "a <mark>slow request</mark> here"
    assert query_words('"unclosed') == []
    assert highlight("<i>", []) == "&lt;i&gt;"


def test_chips_are_the_querys_terms():
    assert chips('GET -"health check" status:>=500') == ["GET", '-"health check"', "status:>=500"]
    assert chips("") == [] and chips('"unclosed') == []
