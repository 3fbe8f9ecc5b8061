package dev.openmsk.iam;

import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.AttributeNotFoundException;
import javax.management.DynamicMBean;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanInfo;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;

/**
 * Wall time and thread CPU time of {@code authorize()} calls, as cumulative counters in fixed buckets, so a
 * reader can diff two readings and get exact counts per bucket over any window (a sampling reservoir cannot).
 * Wall time is what a request waits (on a loaded host mostly the scheduler's doing); CPU time is what the
 * decision costs, and holds on a loaded host. One MBean per path:
 * {@code kafka.server:type=OpenmskIamAuthorizer,name=AuthorizeTime,path=<cached|asked|delegate>}:
 * cached = an IAM request whose every action was in the decision cache, asked = one that went to the control
 * plane, delegate = a request on another listener, decided by Kafka's ACL authorizer (the baseline); and
 * {@code name=ControlPlaneCall,path=<authenticate|authorize>}: each call to the control plane (ControlPlaneChannel),
 * so the broker's side of an IAM connection's set-up (the SASL exchange's verification) is timed too.
 * Attributes: Count, TotalNanos, MaxNanos, Le&lt;n&gt;us (calls that took at most n microseconds of wall time),
 * TotalCpuNanos and CpuLe&lt;n&gt;us (the same in the calling thread's CPU time). The exporter serves them, e.g.
 * {@code kafka_server_OpenmskIamAuthorizer_Le100us{name="AuthorizeTime",path="cached"}}.
 * Cost per call: two thread-CPU clock reads (~0.5 us each on Linux), a nanoTime and four LongAdder increments.
 */
final class AuthorizeTimer implements DynamicMBean {
    /** Upper bounds in microseconds; one more bucket above the last. */
    static final long[] BOUNDS_US = {1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
            1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000};

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final boolean CPU_TIME = THREADS.isCurrentThreadCpuTimeSupported();

    private final LongAdder[] buckets = new LongAdder[BOUNDS_US.length + 1];
    private final LongAdder[] cpuBuckets = new LongAdder[BOUNDS_US.length + 1];
    private final LongAdder total = new LongAdder();
    private final LongAdder totalCpu = new LongAdder();
    private final LongAccumulator max = new LongAccumulator(Math::max, 0);
    private final MBeanInfo info;

    private AuthorizeTimer() {
        for (int i = 0; i < buckets.length; i++) {
            buckets[i] = new LongAdder();
            cpuBuckets[i] = new LongAdder();
        }
        Map<String, String> names = attributes();
        MBeanAttributeInfo[] attrs = names.keySet().stream().map(n -> new MBeanAttributeInfo(
                n, "long", names.get(n), true, false, false)).toArray(MBeanAttributeInfo[]::new);
        info = new MBeanInfo(getClass().getName(), "openmsk IAM authorizer: authorize() wall time", attrs,
                null, null, null);
    }

    /** A timer registered under {@code name} and {@code path} (replacing one a previous instance left). */
    static AuthorizeTimer register(String name, String path) {
        AuthorizeTimer timer = new AuthorizeTimer();
        try {
            MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            ObjectName objectName = new ObjectName("kafka.server:type=OpenmskIamAuthorizer,name=" + name + ",path=" + path);
            if (server.isRegistered(objectName)) {
                server.unregisterMBean(objectName);
            }
            server.registerMBean(timer, objectName);
        } catch (Exception e) {         // a metric must never stop the broker: the timer still counts
            org.slf4j.LoggerFactory.getLogger(AuthorizeTimer.class).warn("IAM authorizer timer {}: {}", path, e.toString());
        }
        return timer;
    }

    /** The calling thread's CPU time in nanoseconds (-1 where the JVM cannot tell), for {@link #record}. */
    static long cpuNow() {
        return CPU_TIME ? THREADS.getCurrentThreadCpuTime() : -1;
    }

    /** One call that started at {@code System.nanoTime() == startNanos} and {@code cpuNow() == startCpu}. */
    void record(long startNanos, long startCpu) {
        long nanos = System.nanoTime() - startNanos;
        buckets[bucket(nanos)].increment();
        total.add(nanos);
        max.accumulate(nanos);
        if (startCpu >= 0) {
            long cpu = cpuNow() - startCpu;
            cpuBuckets[bucket(cpu)].increment();
            totalCpu.add(cpu);
        }
    }

    private static int bucket(long nanos) {
        long us = (nanos + 999) / 1000;
        int i = 0;
        while (i < BOUNDS_US.length && us > BOUNDS_US[i]) {
            i++;
        }
        return i;
    }

    private static long upTo(LongAdder[] counts, int last) {
        long n = 0;
        for (int j = 0; j <= last; j++) {
            n += counts[j].sum();
        }
        return n;
    }

    private static Map<String, String> attributes() {
        Map<String, String> names = new LinkedHashMap<>();
        names.put("Count", "calls");
        names.put("TotalNanos", "sum of the calls' wall time");
        names.put("MaxNanos", "longest call since the broker started");
        names.put("TotalCpuNanos", "sum of the calls' thread CPU time");
        for (long b : BOUNDS_US) {
            names.put("Le" + b + "us", "calls that took at most " + b + " us (cumulative)");
            names.put("CpuLe" + b + "us", "calls that used at most " + b + " us of CPU (cumulative)");
        }
        return names;
    }

    @Override
    public Object getAttribute(String attribute) throws AttributeNotFoundException {
        switch (attribute) {
            case "Count":
                return upTo(buckets, BOUNDS_US.length);
            case "TotalNanos":
                return total.sum();
            case "TotalCpuNanos":
                return totalCpu.sum();
            case "MaxNanos":
                return max.get();
            default:
                for (int i = 0; i < BOUNDS_US.length; i++) {
                    if (attribute.equals("Le" + BOUNDS_US[i] + "us")) {
                        return upTo(buckets, i);
                    }
                    if (attribute.equals("CpuLe" + BOUNDS_US[i] + "us")) {
                        return upTo(cpuBuckets, i);
                    }
                }
                throw new AttributeNotFoundException(attribute);
        }
    }

    @Override
    public AttributeList getAttributes(String[] attributes) {
        AttributeList list = new AttributeList();
        for (String a : attributes) {
            try {
                list.add(new Attribute(a, getAttribute(a)));
            } catch (AttributeNotFoundException e) {
                // JMX: unknown attributes are left out of the list
            }
        }
        return list;
    }

    @Override
    public void setAttribute(Attribute attribute) {
        throw new UnsupportedOperationException("read-only");
    }

    @Override
    public AttributeList setAttributes(AttributeList attributes) {
        return new AttributeList();
    }

    @Override
    public Object invoke(String actionName, Object[] params, String[] signature) {
        throw new UnsupportedOperationException(actionName);
    }

    @Override
    public MBeanInfo getMBeanInfo() {
        return info;
    }
}
