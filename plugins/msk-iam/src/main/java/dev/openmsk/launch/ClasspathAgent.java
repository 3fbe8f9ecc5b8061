package dev.openmsk.launch;

import java.lang.instrument.Instrumentation;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.jar.JarFile;

/**
 * {@code ClasspathAgent <agent jar>[=<options>] <main class> [<args>...]}: runs a Java agent's
 * {@code premain(options, null)} and then the main class, as {@code -javaagent:<jar>=<options>} would, but with the
 * agent's jar on the classpath (openmsk runtime/distribution.py, issue 15). Only for agents that do not use the
 * Instrumentation (the Prometheus JMX exporter only starts an HTTP server and registers collectors).
 *
 * <p>Why: classes loaded through {@code -javaagent} cannot go into a class-data-sharing archive without
 * {@code -XX:+AllowArchivingWithJavaAgent}, which makes every JVM mapping the archive print a "testing purposes
 * only" warning, and the agent's {@code java.instrument} module turns the archived module graph off. Started from
 * the classpath, the exporter's ~600 classes come pre-parsed from the broker's archive: its start costs a
 * broker ~0.1 s of CPU instead of ~0.3 s.
 */
public final class ClasspathAgent {
    private ClasspathAgent() {}

    public static void main(String[] args) throws Throwable {
        if (args.length < 2) {
            System.err.println("usage: ClasspathAgent <agent jar>[=<options>] <main class> [<args>...]");
            System.exit(2);
        }
        int eq = args[0].indexOf('=');
        String jar = eq < 0 ? args[0] : args[0].substring(0, eq);
        String options = eq < 0 ? null : args[0].substring(eq + 1);
        String premainClass;
        try (JarFile file = new JarFile(jar)) {
            premainClass = file.getManifest().getMainAttributes().getValue("Premain-Class");
        }
        if (premainClass == null) {
            throw new IllegalArgumentException(jar + " names no Premain-Class");
        }
        ClassLoader loader = ClassLoader.getSystemClassLoader();
        call(Class.forName(premainClass, true, loader).getMethod("premain", String.class, Instrumentation.class),
             options, null);
        Method main = Class.forName(args[1], true, loader).getMethod("main", String[].class);
        call(main, (Object) Arrays.copyOfRange(args, 2, args.length));
    }

    /** A static method's call, its own exception rethrown (not wrapped), as if called directly. */
    private static void call(Method method, Object... args) throws Throwable {
        try {
            method.invoke(null, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
