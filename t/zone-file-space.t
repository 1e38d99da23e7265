#!/usr/bin/perl
# The zone file on a full file system (issue 10, finding 1): nginx used
# to create it sparse (ftruncate), so the first write to each new page of
# a ring, once the file system was full, killed the worker with SIGBUS.
# On a small tmpfs of its own: a zone that does not fit is refused at
# start-up with the file named (posix_fallocate), a zone that fits is
# allocated whole, so that filling the file system afterwards costs no
# request; and a sparse zone file (as nginx made them before) is refused
# by nginx and the aggregator, naming the file.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

plan skip_all => 'mounting a tmpfs needs root' unless $> == 0;

my $dir = test_dir();
my $mnt = "$dir/tmpfs";
mkdir $mnt or die "mkdir $mnt: $!";
system('mount', '-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', $mnt) == 0
    or plan skip_all => "cannot mount a tmpfs on $mnt";

END {
    # after nginx is gone (its mapping keeps the mount busy)
    stop_nginx() if defined master_pid();
    system('umount', '-l', $mnt) if defined $mnt;
}

my $zone = "$mnt/zone";

sub conf {
    my ($size) = @_;
    return <<"EOF";
http {
    pathstats_zone $zone size=$size snapshot=64k;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /app/ { pathstats on; return 200 "ok\\n"; }
    }
}
EOF
}

# 1. a zone larger than the file system

my ($rc, $out) = nginx_t(conf('4m'));
isnt($rc, 0, 'a 4 MB zone on a 2 MB tmpfs: nginx -t fails');
like($out, qr/\[emerg\].*posix_fallocate\("\Q$zone\E",\ \d+\)\ failed
              \ \(28:\ No\ space\ left\ on\ device\)/x,
     '  [emerg] naming posix_fallocate, the file and ENOSPC');
is(-s $zone, 0, '  the file is left empty, to be made anew');

# 2. a zone that fits, then the file system fills up

start_nginx(conf('512k'), workers => 2);
my $zsize = -s $zone;
my $blocks = (stat $zone)[12];
is($blocks * 512, $zsize, "the $zsize byte zone is allocated whole "
                          . '(st_blocks)');

open my $fill, '>', "$mnt/filler" or die "open $mnt/filler: $!";
binmode $fill;
my $chunk = "\0" x 65536;
my $filled = 0;
while (1) {
    my $n = syswrite($fill, $chunk);
    last unless $n;
    $filled += $n;
}
my $full = $!{ENOSPC} ? 1 : 0;
close $fill;
ok($full, "the rest of the tmpfs filled ($filled bytes) until ENOSPC");

is(http_get_n('/app/full', 40, timeout => 3), 40,
   '40 requests on the full file system: all answered 200');
my $s = zone_stats($zone);
is($s->{totals}{seen}, 40, '  40 seen');
is($s->{totals}{recorded}, 40, '  all 40 recorded in the rings');
is($s->{totals}{dropped} + $s->{totals}{no_ring}, 0,
   '  none dropped or unrecorded');
my ($recs) = tail_once($zone);
is(scalar(grep { $_->{path} =~ m{^/app/full\d+$} } @$recs), 40,
   '  and all 40 read back');
stop_nginx();
unlink "$mnt/filler";

# 3. a sparse zone file: a valid header, the rest holes

open my $zf, '<:raw', $zone or die "open $zone: $!";
sysread($zf, my $header, 4096) == 4096 or die "read $zone: $!";
close $zf;
my $sparse = "$dir/sparse.zone";
open my $sf, '>:raw', $sparse or die "open $sparse: $!";
print {$sf} $header;
close $sf;
truncate($sparse, $zsize) or die "truncate $sparse: $!";
ok((stat $sparse)[12] * 512 < $zsize, "a sparse copy of the zone: $zsize "
   . 'bytes, ' . (stat $sparse)[12] * 512 . ' allocated');

($rc, $out) = nginx_t(<<"EOF");
http {
    pathstats_zone $sparse size=512k snapshot=64k;
    server { listen 127.0.0.1:%%PORT%%; location / { pathstats on; } }
}
EOF
isnt($rc, 0, 'nginx -t refuses it');
like($out, qr/\[emerg\].*"\Q$sparse\E"\ is\ unusable:\ file\ is\ not
              \ fully\ allocated\ \(sparse\).*\($zsize\ bytes,\ 4096
              \ of\ them\ allocated\)/x,
     '  [emerg] naming the file, that it is sparse, and its sizes');

my ($arc, $aout, $aerr) = run_aggregator('--zone', $sparse, '--stats');
is($arc, 3, 'the aggregator refuses it: exit 3');
like($aerr, qr/event=zone_open_failed\ zone="\Q$sparse\E"\ error="file
               \ is\ not\ fully\ allocated/x,
     '  saying it is not fully allocated');

finish();
