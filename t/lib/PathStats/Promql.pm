package PathStats::Promql;

# What the Grafana dashboard and the Prometheus rules name, against what
# /metrics exports: a rename on one side fails a test instead of leaving
# an empty panel or an alert that can never fire.  Core Perl only.
#
#   my %have = exported_metrics($metrics_text);
#   my @names = expr_metrics('sum by (le) (rate(x_bucket{a="b"}[5m]))');
#   # ('x_bucket')

use strict;
use warnings;
use Exporter qw(import);

our @EXPORT = qw(exported_metrics expr_metrics missing_metrics);

my %KEYWORDS = map { $_ => 1 } qw(
    by without on ignoring group_left group_right and or unless bool
    offset inf nan
);

# The metric names an exposition declares (# TYPE), with the _bucket,
# _sum and _count series of its histograms and summaries.
sub exported_metrics {
    my ($text) = @_;
    my %m;
    while ($text =~ /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/mg) {
        my ($name, $type) = ($1, $2);
        $m{$name} = 1;
        if ($type eq 'histogram' || $type eq 'summary') {
            $m{"${name}_$_"} = 1 for qw(sum count);
            $m{"${name}_bucket"} = 1 if $type eq 'histogram';
        }
    }
    return %m;
}

# The metric names a PromQL expression (or a Grafana label_values()
# query) reads.
sub expr_metrics {
    my ($expr) = @_;
    my @names;

    # label_values(metric, label) of a Grafana variable
    while ($expr =~ s/\blabel_values\(\s*([a-zA-Z_:][\w:]*)\s*,[^)]*\)//) {
        push @names, $1;
    }

    $expr =~ s/"(?:[^"\\]|\\.)*"//g;            # strings
    $expr =~ s/\{[^}]*\}//g;                    # label matchers
    $expr =~ s/\[[^\]]*\]//g;                   # ranges, subqueries
    $expr =~ s/\b(?:by|without|on|ignoring|group_(?:left|right))\s*\([^)]*\)//g;
    $expr =~ s/\$\{?\w+\}?//g;                  # Grafana variables
    $expr =~ s/\b\d[\w.]*//g;                   # numbers, durations

    while ($expr =~ /([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g) {
        my ($id, $call) = ($1, $2);
        next if $call;                          # a function or aggregation
        next if $KEYWORDS{lc $id};
        push @names, $id;
    }
    return @names;
}

# The names in @exprs that %$have lacks, each once, sorted.
sub missing_metrics {
    my ($have, @exprs) = @_;
    my %miss;
    for my $e (@exprs) {
        $miss{$_} = 1 for grep { !$have->{$_} } expr_metrics($e);
    }
    return sort keys %miss;
}

1;
